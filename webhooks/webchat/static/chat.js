// The web chat: the official Twilio Conversations SDK (browser bundle, global Twilio.Conversations) dialling the
// bridge's chat socket. Conversations, history with infinite scroll, live messages, typing, read horizons,
// delivery receipts, attachments and deletes. The SDK reconnects by itself (browser online/offline events,
// continuation token in sessionStorage); this page only shows what it does.
'use strict';

(() => {
  const View = window.WebChatView;
  const Session = window.WebChatSession;
  const { el, errorText } = View;
  const config = JSON.parse(document.getElementById('webchat-config').textContent);
  const $ = (id) => document.getElementById(id);

  const PAGE_SIZE = 30;
  const NEAR_TOP_PX = 80;
  const NEAR_BOTTOM_PX = 120;
  const ANNOUNCEMENTS_KEPT = 5;
  const SELECTED_KEY = 'bridge.webchat.conversation';
  const CONNECTION_TEXT = {
    'signed-out': 'Signed out',
    connecting: 'Connecting…',
    connected: 'Connected',
    disconnecting: 'Disconnecting…',
    disconnected: 'Disconnected: reconnecting when the network is back',
    denied: 'Sign-in refused',
    unknown: 'Connecting…',
  };

  let client = null;
  let identity = '';
  const entries = new Map(); // conversation SID -> {conversation, item, button, name, unread}
  // The conversation on screen: its newest-loaded page, its participants, who is typing, its message elements.
  let current = null;

  // --- notices ---------------------------------------------------------------------------------------------

  function showError(text) {
    const dismiss = el('button', { type: 'button', className: 'link' }, 'Dismiss');
    const line = el('p', { className: 'error' }, el('span', {}, text), ' ', dismiss);
    dismiss.addEventListener('click', () => {
      line.remove();
      $('message-body').focus();
    });
    $('errors').append(line);
  }

  function announce(text) {
    const announcer = $('announcer');
    announcer.append(el('p', {}, text));
    while (announcer.childElementCount > ANNOUNCEMENTS_KEPT) announcer.firstElementChild.remove();
  }

  function showConnection(state) {
    $('connection').dataset.state = state;
    $('connection-text').textContent = CONNECTION_TEXT[state] || state;
  }

  function tokenNotice(text) {
    $('token-notice-text').textContent = text;
    $('token-notice').hidden = false;
  }

  // --- signing in and out ----------------------------------------------------------------------------------

  function showSignIn() {
    $('sign-in').hidden = false;
    $('chat').hidden = true;
    $('who').hidden = true;
    $('sign-out').hidden = true;
    showConnection('signed-out');
    $('token-field').focus();
  }

  function start(token) {
    $('sign-in').hidden = true;
    $('chat').hidden = false;
    $('sign-out').hidden = false;
    identity = Session.identityOf(token);
    $('identity').textContent = identity;
    $('who').hidden = !identity;
    showConnection('connecting');
    client = new window.Twilio.Conversations.Client(token, { twilsock: { uri: config.gatewayUrl } });
    listen(client);
  }

  async function stop() {
    const old = client;
    client = null;
    current = null;
    entries.clear();
    $('conversation-list').replaceChildren();
    $('messages').replaceChildren();
    $('participants').replaceChildren();
    $('composer').hidden = true;
    $('conversation-title').textContent = 'Choose a conversation';
    if (old) await old.shutdown().catch((error) => console.warn('shutdown', error));
  }

  async function signOut() {
    await stop();
    Session.forget();
    window.sessionStorage.removeItem(SELECTED_KEY);
    $('token-notice').hidden = true;
    showSignIn();
  }

  async function renew(token) {
    Session.save(token);
    $('token-notice').hidden = true;
    if (client && !['denied', 'disconnected'].includes(client.connectionState)) {
      try {
        await client.updateToken(token);
        return;
      } catch (error) {
        showError(errorText('Could not use the new token', error));
      }
    }
    await stop();
    start(token);
  }

  // --- the SDK's events --------------------------------------------------------------------------------------

  function listen(sdk) {
    const mine = (handler) => (...args) => (client === sdk ? handler(...args) : undefined);
    sdk.on('connectionStateChanged', mine(showConnection));
    sdk.on('stateChanged', mine((state) => (state === 'initialized' ? loaded() : undefined)));
    sdk.on('initFailed', mine((payload) => {
      const error = (payload && payload.error) || {};
      showError(errorText('Could not connect to the chat', error));
      if (error && error.terminal) {
        Session.forget();
        stop().then(showSignIn);
      }
    }));
    sdk.on('connectionError', mine((error) => {
      if (error && error.terminal) showError(errorText('The chat connection was refused', error));
    }));
    sdk.on('tokenAboutToExpire', mine(() => tokenNotice(
      'Your access token expires in a moment. Paste a new one to stay connected.',
    )));
    sdk.on('tokenExpired', mine(() => tokenNotice(
      'Your access token has expired, so the chat is no longer connected. Paste a new one, or open this page '
      + 'again from the admin console.',
    )));
    sdk.on('conversationJoined', mine(addConversation));
    sdk.on('conversationLeft', mine(removeConversation));
    sdk.on('conversationRemoved', mine(removeConversation));
    sdk.on('conversationUpdated', mine(({ conversation, updateReasons }) => conversationUpdated(conversation, updateReasons)));
    sdk.on('messageAdded', mine(messageAdded));
    sdk.on('messageUpdated', mine(({ message }) => messageUpdated(message)));
    sdk.on('messageRemoved', mine(messageRemoved));
    sdk.on('participantJoined', mine(participantChanged));
    sdk.on('participantLeft', mine((participant) => participantChanged(participant, true)));
    sdk.on('participantUpdated', mine(({ participant }) => participantChanged(participant)));
    sdk.on('typingStarted', mine((participant) => typing(participant, true)));
    sdk.on('typingEnded', mine((participant) => typing(participant, false)));
  }

  async function loaded() {
    identity = client.user.identity;
    $('identity').textContent = identity;
    $('who').hidden = false;
    try {
      let page = await client.getSubscribedConversations();
      page.items.forEach(addConversation);
      while (page.hasNextPage) {
        page = await page.nextPage();
        page.items.forEach(addConversation);
      }
    } catch (error) {
      showError(errorText('Could not load your conversations', error));
    }
    const remembered = window.sessionStorage.getItem(SELECTED_KEY);
    if (!current && remembered && entries.has(remembered)) select(remembered, false);
  }

  // --- the conversation list -------------------------------------------------------------------------------

  function lastActivity(conversation) {
    const last = conversation.lastMessage && conversation.lastMessage.dateCreated;
    return (last || conversation.dateUpdated || conversation.dateCreated || new Date(0)).getTime();
  }

  function sortList() {
    const list = $('conversation-list');
    const sorted = [...entries.values()].sort((a, b) => lastActivity(b.conversation) - lastActivity(a.conversation));
    sorted.forEach((entry) => list.append(entry.item));
    $('no-conversations').hidden = entries.size > 0;
  }

  function addConversation(conversation) {
    if (entries.has(conversation.sid)) {
      entries.get(conversation.sid).conversation = conversation;
      return;
    }
    const name = el('span', { className: 'name' }, View.conversationName(conversation));
    const unread = el('span', { className: 'unread', hidden: true });
    const button = el('button', { type: 'button', className: 'conversation-button', dataset: { sid: conversation.sid } }, name, unread);
    button.addEventListener('click', () => select(conversation.sid, true));
    const item = el('li', {}, button);
    entries.set(conversation.sid, { conversation, item, button, name, unread });
    sortList();
    refreshUnread(conversation.sid);
  }

  function removeConversation(conversation) {
    const entry = entries.get(conversation.sid);
    if (!entry) return;
    entry.item.remove();
    entries.delete(conversation.sid);
    $('no-conversations').hidden = entries.size > 0;
    if (current && current.conversation.sid === conversation.sid) {
      current = null;
      $('messages').replaceChildren();
      $('participants').replaceChildren();
      $('composer').hidden = true;
      $('conversation-title').textContent = 'Choose a conversation';
      announce(`You are no longer in ${View.conversationName(conversation)}`);
    }
  }

  function conversationUpdated(conversation, reasons) {
    const entry = entries.get(conversation.sid);
    if (!entry) return;
    if (reasons.includes('friendlyName') || reasons.includes('uniqueName')) {
      entry.name.textContent = View.conversationName(conversation);
      if (current && current.conversation.sid === conversation.sid) {
        $('conversation-title').textContent = View.conversationName(conversation);
      }
    }
    if (reasons.includes('lastMessage') || reasons.includes('lastReadMessageIndex')) {
      refreshUnread(conversation.sid);
      sortList();
    }
  }

  // Unread: the messages after the identity's read horizon, from the newest index seen (the conversation's last
  // message, or a message that arrived before the conversation's own update). Counted here rather than with
  // getUnreadMessagesCount(), whose answer the SDK caches for seconds, so it lags behind messages that just came.
  function refreshUnread(sid, newestIndex = -1) {
    const entry = entries.get(sid);
    if (!entry) return;
    const last = entry.conversation.lastMessage;
    entry.newest = Math.max(entry.newest ?? -1, newestIndex, last && typeof last.index === 'number' ? last.index : -1);
    let count = 0;
    if (!(current && current.conversation.sid === sid)) {
      const horizon = entry.conversation.lastReadMessageIndex;
      count = horizon === null || horizon === undefined ? entry.newest + 1 : Math.max(0, entry.newest - horizon);
    }
    entry.unread.hidden = !count;
    entry.unread.textContent = count ? `${count} unread` : '';
  }

  // --- the open conversation -------------------------------------------------------------------------------

  async function select(sid, focusComposer) {
    const entry = entries.get(sid);
    if (!entry || (current && current.conversation.sid === sid)) return;
    const { conversation } = entry;
    window.sessionStorage.setItem(SELECTED_KEY, sid);
    for (const other of entries.values()) other.button.removeAttribute('aria-current');
    entry.button.setAttribute('aria-current', 'true');
    const opened = {
      conversation, page: null, loadingOlder: false, participants: new Map(), typing: new Set(), items: new Map(), early: [],
    };
    current = opened;
    $('conversation-title').textContent = View.conversationName(conversation);
    $('messages').replaceChildren();
    $('participants').replaceChildren();
    $('typing').textContent = '';
    $('composer').hidden = false;
    $('load-older').hidden = true;
    $('history-status').textContent = 'Loading messages…';
    try {
      const [page, participants] = await Promise.all([conversation.getMessages(PAGE_SIZE), conversation.getParticipants()]);
      if (current !== opened) return;
      participants.forEach((participant) => opened.participants.set(participant.sid, participant));
      renderParticipants();
      opened.page = page;
      page.items.forEach(placeMessage);
      opened.early.forEach(placeMessage); // arrived while the page was loading
      opened.early = [];
      historyState();
      updateReadMarkers();
      scrollToBottom();
      markRead();
      refreshUnread(sid);
    } catch (error) {
      $('history-status').textContent = '';
      showError(errorText('Could not open the conversation', error));
    }
    if (focusComposer) $('message-body').focus();
  }

  function historyState() {
    const more = Boolean(current && current.page && current.page.hasPrevPage);
    $('load-older').hidden = !more;
    $('history-status').textContent = more ? '' : 'This is the start of the conversation.';
  }

  async function loadOlder() {
    const opened = current;
    if (!opened || !opened.page || !opened.page.hasPrevPage || opened.loadingOlder) return;
    opened.loadingOlder = true;
    const scroller = $('scroller');
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    $('history-status').textContent = 'Loading earlier messages…';
    try {
      const page = await opened.page.prevPage();
      if (current !== opened) return;
      opened.page = page;
      page.items.forEach(placeMessage);
      scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the message in view where it was
      historyState();
      updateReadMarkers();
    } catch (error) {
      $('history-status').textContent = '';
      showError(errorText('Could not load earlier messages', error));
    } finally {
      opened.loadingOlder = false;
    }
  }

  function nearBottom() {
    const scroller = $('scroller');
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    const scroller = $('scroller');
    scroller.scrollTop = scroller.scrollHeight;
  }

  function markRead() {
    if (!current || !current.page || document.visibilityState !== 'visible') return;
    const sid = current.conversation.sid;
    current.conversation.setAllMessagesRead()
      .then(() => refreshUnread(sid))
      .catch((error) => showError(errorText('Could not mark the messages read', error)));
  }

  function renderParticipants() {
    const list = $('participants');
    const people = [...current.participants.values()].sort((a, b) => View.participantName(a).localeCompare(View.participantName(b)));
    list.replaceChildren(...people.map((participant) => el('li', {
      className: 'participant',
      dataset: { type: participant.type || 'chat' },
    }, View.participantName(participant), participant.identity === identity ? ' (you)' : '')));
  }

  function participantChanged(participant, left = false) {
    if (!current || !participant.conversation || participant.conversation.sid !== current.conversation.sid) return;
    if (left) current.participants.delete(participant.sid);
    else current.participants.set(participant.sid, participant);
    renderParticipants();
    updateReadMarkers();
  }

  // Who has read up to where: each other chat participant's read horizon, on the last message it covers.
  function updateReadMarkers() {
    if (!current) return;
    const shown = [...current.items.values()].sort((a, b) => a.message.index - b.message.index);
    const readers = new Map();
    for (const participant of current.participants.values()) {
      const horizon = participant.lastReadMessageIndex;
      if (!participant.identity || participant.identity === identity || horizon === null || horizon === undefined) continue;
      const covered = shown.filter((entry) => entry.message.index <= horizon).pop();
      if (!covered) continue;
      if (!readers.has(covered)) readers.set(covered, []);
      readers.get(covered).push(participant.identity);
    }
    shown.forEach((entry) => View.readBy(entry.item, (readers.get(entry) || []).sort()));
  }

  function typing(participant, started) {
    if (!current || !participant.conversation || participant.conversation.sid !== current.conversation.sid) return;
    const name = View.participantName(participant);
    if (started) current.typing.add(name);
    else current.typing.delete(name);
    renderTyping();
  }

  function renderTyping() {
    const names = [...current.typing].sort();
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length > 1) text = `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
    $('typing').textContent = text;
  }

  // --- messages --------------------------------------------------------------------------------------------

  function placeMessage(message) {
    const known = current.items.get(message.sid);
    if (known) {
      known.message = message;
      View.updateMessage(known.item, message);
      return;
    }
    const item = View.message(message, message.author === identity);
    View.updateMessage(item, message);
    const entry = { item, message };
    item.querySelector('.delete').addEventListener('click', () => deleteMessage(entry.message, item));
    item.querySelector('.receipts-toggle').addEventListener('click', () => toggleReceipts(entry.message, item));
    current.items.set(message.sid, entry);
    const list = $('messages');
    const later = [...list.children].find((other) => Number(other.dataset.index) > message.index);
    list.insertBefore(item, later || null);
    showMedia(item, message);
  }

  async function showMedia(item, message) {
    const box = item.querySelector('.attachments');
    box.replaceChildren();
    for (const media of message.attachedMedia || []) {
      const name = media.filename || 'attachment';
      const placeholder = el('span', { className: 'muted' }, `Loading ${name}…`);
      box.append(placeholder);
      try {
        const url = await media.getContentTemporaryUrl();
        const shown = url ? View.attachment(media, url) : el('span', { className: 'muted' }, `${name} is not available`);
        const image = shown.querySelector && shown.querySelector('img');
        if (image) {
          image.addEventListener('error', () => image.replaceWith(el('span', { className: 'error-text' }, `${name} could not be shown`)));
        }
        placeholder.replaceWith(shown);
      } catch (error) {
        placeholder.replaceWith(el('span', { className: 'error-text' }, errorText(`Could not load ${name}`, error)));
      }
    }
  }

  function messageAdded(message) {
    const sid = message.conversation.sid;
    const entry = entries.get(sid);
    const own = message.author === identity;
    const what = message.body || 'an attachment';
    if (current && current.conversation.sid === sid) {
      if (!current.page) {
        current.early.push(message);
        return;
      }
      const follow = own || nearBottom();
      placeMessage(message);
      updateReadMarkers();
      if (follow) scrollToBottom();
      if (!own) announce(`${message.author}: ${what}`);
      markRead();
    } else {
      refreshUnread(sid, message.index);
      if (!own && entry) announce(`New message in ${View.conversationName(entry.conversation)} from ${message.author}`);
    }
    if (entry) sortList();
  }

  function messageUpdated(message) {
    if (!current || message.conversation.sid !== current.conversation.sid) return;
    const known = current.items.get(message.sid);
    if (!known) return;
    known.message = message;
    View.updateMessage(known.item, message);
    // Open receipts are now behind the summary: closed, to be opened again (the SDK answers a second read of
    // them from its cache for a few seconds, so they cannot simply be read again now).
    const toggle = known.item.querySelector('.receipts-toggle');
    if (toggle.getAttribute('aria-expanded') === 'true') {
      toggle.setAttribute('aria-expanded', 'false');
      known.item.querySelector('.receipts').hidden = true;
    }
  }

  function messageRemoved(message) {
    if (!current || message.conversation.sid !== current.conversation.sid) return;
    const known = current.items.get(message.sid);
    if (!known) return;
    const hadFocus = known.item.contains(document.activeElement);
    known.item.remove();
    current.items.delete(message.sid);
    updateReadMarkers();
    announce(`A message from ${message.author || 'someone'} was deleted`);
    if (hadFocus) $('scroller').focus();
  }

  function toggleReceipts(message, item) {
    const button = item.querySelector('.receipts-toggle');
    if (button.getAttribute('aria-expanded') === 'true') {
      button.setAttribute('aria-expanded', 'false');
      item.querySelector('.receipts').hidden = true;
      return;
    }
    showReceipts(message, item);
  }

  async function showReceipts(message, item) {
    const button = item.querySelector('.receipts-toggle');
    const list = item.querySelector('.receipts');
    try {
      const found = await message.getDetailedDeliveryReceipts();
      const nameOf = (sid) => {
        const participant = current && current.participants.get(sid);
        return participant ? View.participantName(participant) : 'a former participant';
      };
      View.receipts(list, found, nameOf);
      list.hidden = false;
      button.setAttribute('aria-expanded', 'true');
    } catch (error) {
      showError(errorText('Could not load the delivery receipts', error));
    }
  }

  async function deleteMessage(message, item) {
    if (!window.confirm(`Delete this message from ${message.author || 'system'}?`)) return;
    const button = item.querySelector('.delete');
    button.disabled = true;
    try {
      await message.remove();
    } catch (error) {
      showError(errorText('Could not delete the message', error));
      button.disabled = false;
      button.focus();
    }
  }

  async function send() {
    if (!current) return;
    const field = $('message-body');
    const picker = $('attachment');
    const text = field.value;
    const file = picker.files && picker.files[0];
    if (!text.trim() && !file) return;
    const button = $('send');
    button.disabled = true;
    try {
      if (file) {
        const builder = current.conversation.prepareMessage();
        if (text.trim()) builder.setBody(text);
        builder.addMedia({ contentType: file.type || 'application/octet-stream', filename: file.name, media: file });
        await builder.build().send();
      } else {
        await current.conversation.sendMessage(text);
      }
      field.value = '';
      picker.value = '';
      $('attachment-name').textContent = '';
    } catch (error) {
      showError(errorText('Could not send the message', error));
    } finally {
      button.disabled = false;
      field.focus();
    }
  }

  // --- the page's own controls ---------------------------------------------------------------------------------

  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    send();
  });
  $('message-body').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $('message-body').addEventListener('input', () => {
    // The SDK sends at most one typing signal per few seconds, however often it is called.
    if (current && $('message-body').value) current.conversation.typing().catch((error) => console.warn('typing', error));
  });
  $('attachment').addEventListener('change', () => {
    const file = $('attachment').files[0];
    $('attachment-name').textContent = file ? `${file.name} will be sent with the message` : '';
  });
  $('scroller').addEventListener('scroll', () => {
    if ($('scroller').scrollTop < NEAR_TOP_PX) loadOlder();
  });
  $('load-older').addEventListener('click', loadOlder);
  document.addEventListener('visibilitychange', markRead);
  $('sign-out').addEventListener('click', signOut);
  $('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token-field').value.trim();
    if (!token) return;
    $('token-field').value = '';
    Session.save(token);
    start(token);
    $('conversations-heading').focus(); // the form that had focus is gone
  });
  $('renew-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('renew-token').value.trim();
    $('renew-token').value = '';
    if (token) renew(token);
  });

  // A new #token=... on this same page (no reload: a fragment change) signs in again with it.
  window.addEventListener('hashchange', async () => {
    const fresh = Session.takeFromFragment();
    if (!fresh) return;
    await stop();
    $('token-notice').hidden = true;
    start(fresh);
  });

  const token = Session.takeFromFragment() || Session.stored();
  if (token) start(token);
  else showSignIn();
})();
