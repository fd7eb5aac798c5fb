// DOM building for the web chat. Every piece of user content goes in as text (textContent, attributes),
// never as HTML.
'use strict';

window.WebChatView = (() => {
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'className') node.className = value;
      else if (name === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function time(date) {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) return null;
    const sameDay = date.toDateString() === new Date().toDateString();
    return el('time', { datetime: date.toISOString(), title: day.format(date) }, sameDay ? clock.format(date) : day.format(date));
  }

  // What the SMS and WhatsApp recipients' receipts say, summed up (Twilio's aggregated delivery receipt).
  function delivery(receipt) {
    if (!receipt || !receipt.total) return null;
    const some = (amount) => amount === 'some' || amount === 'all';
    if (receipt.failed === 'all') return { status: 'failed', text: 'Failed' };
    if (receipt.undelivered === 'all') return { status: 'undelivered', text: 'Not delivered' };
    if (some(receipt.failed) || some(receipt.undelivered)) return { status: 'partial', text: 'Not delivered to some' };
    if (receipt.read === 'all') return { status: 'read', text: 'Read' };
    if (receipt.delivered === 'all') return { status: 'delivered', text: 'Delivered' };
    if (some(receipt.delivered)) return { status: 'partial', text: 'Delivered to some' };
    if (receipt.sent === 'all') return { status: 'sent', text: 'Sent' };
    return { status: 'sending', text: 'Sending' };
  }

  // An SDK or network error as a sentence: Twilio's message and code when the server gave them.
  function errorText(doing, error) {
    const body = (error && error.body) || {};
    const message = body.message || (error && error.message) || String(error);
    const code = body.code || (error && error.code);
    const status = error && error.status;
    const details = [code ? `error ${code}` : null, status ? `HTTP ${status}` : null].filter(Boolean).join(', ');
    return `${doing}: ${message}${details ? ` (${details})` : ''}`;
  }

  function participantName(participant) {
    if (participant.identity) return participant.identity;
    const channel = participant.type === 'whatsapp' ? 'WhatsApp' : (participant.type || 'other').toUpperCase();
    return `${channel} participant`;
  }

  function conversationName(conversation) {
    return conversation.friendlyName || conversation.uniqueName || conversation.sid;
  }

  function message(message, own) {
    const author = message.author || 'system';
    const item = el('li', {
      className: `message${own ? ' own' : ''}`,
      dataset: { index: message.index, sid: message.sid },
    });
    const meta = el('p', { className: 'meta' }, el('span', { className: 'author' }, author), ' ', time(message.dateCreated));
    const body = el('p', { className: 'body' }, message.body || '');
    if (!message.body) body.hidden = true;
    const attachments = el('div', { className: 'attachments' });
    const remove = el('button', {
      type: 'button', className: 'link delete', 'aria-label': `Delete the message from ${author}`,
    }, 'Delete');
    const details = el('button', {
      type: 'button', className: 'link receipts-toggle', hidden: true, 'aria-expanded': 'false',
      'aria-label': 'Delivery details',
    }, 'Details');
    const footer = el('p', { className: 'footer' },
      el('span', { className: 'delivery', hidden: true }),
      details,
      el('span', { className: 'read-by', hidden: true }),
      remove);
    const receipts = el('ul', { className: 'receipts', hidden: true, 'aria-label': 'Delivery to each recipient' });
    item.append(meta, body, attachments, footer, receipts);
    return item;
  }

  function updateMessage(item, message) {
    const body = item.querySelector('.body');
    body.textContent = message.body || '';
    body.hidden = !message.body;
    const shown = delivery(message.aggregatedDeliveryReceipt);
    const badge = item.querySelector('.delivery');
    badge.hidden = !shown;
    item.querySelector('.receipts-toggle').hidden = !shown;
    if (shown) {
      badge.dataset.status = shown.status;
      badge.textContent = shown.text;
      badge.title = 'Delivery to SMS and WhatsApp recipients';
    }
  }

  // One line per recipient of the message's detailed delivery receipts; `nameOf` names a participant by SID.
  function receipts(list, found, nameOf) {
    const label = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed', undelivered: 'not delivered', queued: 'queued' };
    list.replaceChildren(...found.map((receipt) => el('li', { dataset: { status: receipt.status } },
      `${nameOf(receipt.participantSid)}: ${label[receipt.status] || receipt.status}`,
      receipt.errorCode ? ` (error ${receipt.errorCode})` : '')));
    if (!found.length) list.append(el('li', {}, 'No receipt yet'));
  }

  function readBy(item, identities) {
    const marker = item.querySelector('.read-by');
    marker.hidden = identities.length === 0;
    marker.textContent = identities.length ? `Read by ${identities.join(', ')}` : '';
  }

  function attachment(media, url) {
    const name = media.filename || 'attachment';
    if (media.contentType && media.contentType.startsWith('image/')) {
      const image = el('img', { src: url, alt: name, className: 'inline-image', loading: 'lazy' });
      return el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', className: 'image-link' }, image);
    }
    return el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', className: 'file-link', download: name },
      `${name} (${Math.max(1, Math.round((media.size || 0) / 1024))} KB)`);
  }

  return {
    el, time, delivery, errorText, participantName, conversationName, message, updateMessage, receipts, readBy, attachment,
  };
})();
