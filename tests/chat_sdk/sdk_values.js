// What both test drivers do with the SDK's values: the serialisers (SDK objects, errors and dates as plain JSON)
// and the helpers a `run` snippet gets. Loaded by driver.js under Node (require) and injected into the page by
// tests/support/browser_sdk.py (window.__sdkValues), so a test's JS sees the same shapes in both.
'use strict';

(function exportValues(root, factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory(require('@twilio/conversations'));
  } else {
    root.__sdkValues = factory(root.Twilio.Conversations);
  }
}(typeof self !== 'undefined' ? self : this, (sdk) => {
  const {
    Conversation, Media, Message, Participant, User,
  } = sdk;

  // ---- serialisers -------------------------------------------------------------------------------------------

  function isoDate(d) {
    if (!(d instanceof Date)) return d === undefined ? null : d;
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }

  function numberOrNull(v) {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
    if (v && typeof v === 'object' && 'code' in v) return numberOrNull(v.code); // {status: {code, status}} frames
    return null;
  }

  function serializeError(err) {
    if (err === null || typeof err !== 'object') {
      return { name: 'Error', message: String(err), code: null, status: null, stack: '' };
    }
    const first = (...keys) => keys.map((k) => numberOrNull(err[k])).find((v) => v !== null) ?? null;
    return {
      name: err.name || (err.constructor && err.constructor.name) || 'Error',
      message: String(err.message ?? err.description ?? err.error?.message ?? safeString(err)),
      code: first('code', 'errorCode'),
      status: first('status', 'httpStatusCode', 'statusCode'),
      stack: typeof err.stack === 'string' ? err.stack : '',
    };
  }

  function safeString(x) {
    try {
      return JSON.stringify(x);
    } catch (e) {
      return String(x);
    }
  }

  const serializeMessage = (m) => ({
    sid: m.sid,
    index: m.index,
    body: m.body ?? null,
    author: m.author ?? null,
    attributes: serialize(m.attributes),
    participantSid: m.participantSid ?? null,
    conversationSid: m.conversation ? m.conversation.sid : null,
    dateCreated: isoDate(m.dateCreated),
    dateUpdated: isoDate(m.dateUpdated),
    type: m.type ?? null,
    attachedMedia: (m.attachedMedia ?? []).map(serializeMedia),
  });

  const serializeMedia = (x) => ({
    sid: x.sid,
    filename: x.filename ?? null,
    contentType: x.contentType ?? null,
    size: x.size ?? null,
    category: x.category ?? null,
  });

  const serializeConversation = (c) => ({
    sid: c.sid,
    uniqueName: c.uniqueName ?? null,
    friendlyName: c.friendlyName ?? null,
    attributes: serialize(c.attributes),
    status: c.status ?? null,
    lastReadMessageIndex: c.lastReadMessageIndex ?? null,
    createdBy: c.createdBy ?? null,
    dateCreated: isoDate(c.dateCreated),
    dateUpdated: isoDate(c.dateUpdated),
    lastMessage: c.lastMessage ? serialize(c.lastMessage) : null,
  });

  const serializeParticipant = (p) => ({
    sid: p.sid,
    identity: p.identity ?? null,
    type: p.type ?? null,
    attributes: serialize(p.attributes),
    lastReadMessageIndex: p.lastReadMessageIndex ?? null,
    conversationSid: p.conversation ? p.conversation.sid : null,
    roleSid: p.roleSid ?? null,
  });

  const serializeUser = (u) => ({
    identity: u.identity,
    friendlyName: u.friendlyName ?? null,
    attributes: serialize(u.attributes),
    isOnline: u.isOnline ?? null,
    isNotifiable: u.isNotifiable ?? null,
  });

  const isPaginator = (x) => Array.isArray(x.items) && typeof x.hasPrevPage === 'boolean'
    && typeof x.hasNextPage === 'boolean' && typeof x.prevPage === 'function';

  // Any value -> plain JSON. SDK objects by their serialisers, Dates as ISO strings, Errors as error objects.
  function serialize(x, depth = 0, seen = new WeakSet()) {
    if (x === undefined || x === null) return null;
    switch (typeof x) {
      case 'string': case 'boolean': return x;
      case 'number': return Number.isFinite(x) ? x : null;
      case 'bigint': return x.toString();
      case 'function': case 'symbol': return null;
      default: break;
    }
    if (x instanceof Date) return isoDate(x);
    if (x instanceof Message) return serializeMessage(x);
    if (x instanceof Conversation) return serializeConversation(x);
    if (x instanceof Participant) return serializeParticipant(x);
    if (x instanceof User) return serializeUser(x);
    if (x instanceof Media) return serializeMedia(x);
    if (x instanceof Error) return serializeError(x);
    if (depth > 12) return '[depth]';
    if (seen.has(x)) return '[circular]';
    seen.add(x);
    try {
      if (isPaginator(x)) {
        return {
          items: x.items.map((i) => serialize(i, depth + 1, seen)),
          hasNextPage: x.hasNextPage,
          hasPrevPage: x.hasPrevPage,
        };
      }
      if (Array.isArray(x)) return x.map((i) => serialize(i, depth + 1, seen));
      if (x instanceof Map) {
        return Object.fromEntries([...x.entries()].map(([k, v]) => [String(k), serialize(v, depth + 1, seen)]));
      }
      if (x instanceof Set) return [...x].map((i) => serialize(i, depth + 1, seen));
      if (typeof x.toJSON === 'function') return serialize(x.toJSON(), depth + 1, seen);
      const out = {};
      for (const [k, v] of Object.entries(x)) {
        if (typeof v !== 'function' && v !== undefined) out[k] = serialize(v, depth + 1, seen);
      }
      return out;
    } finally {
      seen.delete(x);
    }
  }

  // ---- helpers for `run` -------------------------------------------------------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  function makeHelpers(client, requireModule) {
    return {
      conversation: (sid) => client.getConversationBySid(sid),
      serialize: (x) => serialize(x),
      sleep,
      require: requireModule,
      // Every message of a conversation, oldest first, paging backwards from the newest page.
      async allMessages(conversation, pageSize = 30) {
        let page = await conversation.getMessages(pageSize);
        const all = [...page.items];
        while (page.hasPrevPage) {
          page = await page.prevPage();
          all.unshift(...page.items);
        }
        const seen = new Set();
        return all
          .filter((m) => (seen.has(m.index) ? false : seen.add(m.index)))
          .sort((a, b) => a.index - b.index)
          .map(serializeMessage);
      },
      // Resolves with the first `event` on `emitter` (a Client, Conversation, ...) whose args satisfy `predicate`.
      waitFor(emitter, event, predicate = () => true, ms = 10000) {
        return new Promise((resolve, reject) => {
          const onEvent = (...eventArgs) => {
            if (!predicate(...eventArgs)) return;
            clearTimeout(timer);
            emitter.off(event, onEvent);
            resolve(eventArgs.length <= 1 ? eventArgs[0] : eventArgs);
          };
          const timer = setTimeout(() => {
            emitter.off(event, onEvent);
            reject(new Error(`no ${event} within ${ms} ms`));
          }, ms);
          emitter.on(event, onEvent);
        });
      },
    };
  }

  return {
    isoDate, numberOrNull, serializeError, serializeMessage, serialize, sleep, withTimeout, makeHelpers,
  };
}));
