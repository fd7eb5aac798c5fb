// The page half of tests/support/browser_sdk.py: one official SDK client (the UMD bundle's
// `Twilio.Conversations.Client`) in a real browser page, with the semantics of driver.js so a test's JS runs unchanged.
//
// Injected after builds/twilio-conversations.min.js. Python calls `window.__sdkDriver.<op>(...)`, which resolves with
//   {"ok": true, "result": <json>}  or  {"ok": false, "error": {"name", "message", "code", "status", "stack"}}
// and every client event goes to the binding `window.__sdkDriverEvent({event, client, data, t})` (Playwright's
// expose_binding), so Python records it even while no op is running.
'use strict';

(() => {
  const T0 = Date.now();
  const {
    Client, Conversation, Media, Message, Participant, User,
  } = window.Twilio.Conversations;

  const CLIENT_EVENTS = [
    'connectionStateChanged', 'connectionError', 'stateChanged', 'initFailed', 'tokenAboutToExpire', 'tokenExpired',
    'conversationAdded', 'conversationJoined', 'conversationLeft', 'conversationRemoved', 'conversationUpdated',
    'messageAdded', 'messageUpdated', 'messageRemoved', 'participantJoined', 'participantLeft', 'participantUpdated',
    'typingStarted', 'typingEnded', 'userUpdated',
  ];
  const DEFAULT_CONNECT_TIMEOUT_MS = 20000;
  const SHUTDOWN_TIMEOUT_MS = 5000;
  const INIT_FAILED_GRACE_MS = 250;

  let entry = null; // {name, client, detach}: a page hosts one client

  const sendEvent = (event, client, data) => {
    let payload = { event, client, data, t: Date.now() - T0 };
    try {
      payload = JSON.parse(JSON.stringify(payload));
    } catch (err) {
      payload = { event, client, data: null, t: payload.t, unserialisable: String(err) };
    }
    window.__sdkDriverEvent(payload);
  };

  // ---- serialisers (as driver.js's) ----------------------------------------------------------------------------

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

  function safeString(x) {
    try {
      return JSON.stringify(x);
    } catch (e) {
      return String(x);
    }
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

  // A page has no modules to load: a snippet that needs one belongs to the Node driver.
  const noRequire = (name) => {
    throw new Error(`require(${JSON.stringify(name)}) is not available in the browser`);
  };

  function withTimeout(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  function makeHelpers(client) {
    return {
      conversation: (sid) => client.getConversationBySid(sid),
      serialize: (x) => serialize(x),
      sleep,
      require: noRequire,
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

  // ---- ops ---------------------------------------------------------------------------------------------------

  function getClient(name) {
    if (!entry || entry.name !== name) throw new Error(`no client named ${JSON.stringify(name)}`);
    return entry.client;
  }

  async function shutdownEntry(name) {
    getClient(name);
    const current = entry;
    entry = null;
    try {
      await withTimeout(current.client.shutdown(), SHUTDOWN_TIMEOUT_MS, `shutdown of ${name}`);
    } finally {
      current.detach();
    }
  }

  function attach(name, client) {
    const handlers = CLIENT_EVENTS.map((event) => {
      const handler = (data) => sendEvent(event, name, serialize(data));
      client.on(event, handler);
      return [event, handler];
    });
    return () => handlers.forEach(([event, handler]) => client.off(event, handler));
  }

  async function connect({ name, token, uri, options: extra, timeout_ms: timeoutMs, keep_on_failure: keep }) {
    if (typeof name !== 'string' || !name) throw new Error('connect needs a client name');
    if (entry) throw new Error(`this page already hosts client ${JSON.stringify(entry.name)}`);
    const options = { logLevel: 'warn', ...(extra || {}) };
    if (uri) options.twilsock = { ...(options.twilsock || {}), uri };
    const waitMs = timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;

    const client = new Client(token, options);
    entry = { name, client, detach: attach(name, client) };

    let onState;
    let onFailed;
    let timer;
    try {
      await new Promise((resolve, reject) => {
        onState = (state) => {
          if (state === 'initialized') resolve();
        };
        // As in driver.js: a denied init first fails with "Twilsock has disconnected." and only then with the
        // cause's httpStatusCode/errorCode; wait a moment and reject with the most telling cause seen.
        let cause = null;
        const failWith = () => {
          const err = new Error(`initFailed: ${cause.message || safeString(cause)}`);
          for (const key of ['code', 'errorCode', 'status', 'httpStatusCode', 'terminal']) {
            if (cause[key] !== undefined && cause[key] !== null) err[key] = cause[key];
          }
          reject(err);
        };
        onFailed = (payload) => {
          const next = (payload && payload.error) || payload || {};
          const telling = (c) => (c && (c.httpStatusCode ?? c.errorCode ?? c.status ?? c.code)) != null;
          if (cause === null) setTimeout(failWith, INIT_FAILED_GRACE_MS);
          if (cause === null || (telling(next) && !telling(cause))) cause = next;
        };
        timer = setTimeout(() => reject(new Error(
          `connect timed out after ${waitMs} ms (connectionState ${client.connectionState})`,
        )), waitMs);
        client.on('stateChanged', onState);
        client.on('initFailed', onFailed);
      });
    } catch (err) {
      // The SDK keeps reconnecting after a failed first connect: unless asked to keep it, stop and forget it.
      if (!keep && entry && entry.client === client) {
        await shutdownEntry(name).catch((e) => console.warn(`[driver] shutdown after failed connect: ${e.stack || e}`));
      }
      throw err;
    } finally {
      clearTimeout(timer);
      client.off('stateChanged', onState);
      client.off('initFailed', onFailed);
    }
    return { identity: client.user ? client.user.identity : null, connectionState: client.connectionState };
  }

  async function run({ name, code, args, timeout_ms: timeoutMs }) {
    const client = name === undefined || name === null ? undefined : getClient(name);
    if (typeof code !== 'string') throw new Error('run needs `code`, the source of an async function');
    // eslint-disable-next-line no-new-func
    const fn = new Function('require', `"use strict"; return (${code}\n);`)(noRequire);
    if (typeof fn !== 'function') throw new Error('`code` did not evaluate to a function');
    const work = Promise.resolve().then(() => fn(client, args ?? null, makeHelpers(client)));
    const result = timeoutMs ? await withTimeout(work, timeoutMs, 'run') : await work;
    return serialize(result);
  }

  const OPS = {
    connect,
    run,
    shutdown: async ({ name }) => {
      await shutdownEntry(name);
      return null;
    },
    setPushRegistrationId: async (cmd) => {
      await getClient(cmd.name).setPushRegistrationId(cmd.channel_type, cmd.token);
      return null;
    },
    unsetPushRegistrationId: async (cmd) => {
      await getClient(cmd.name).unsetPushRegistrationId(cmd.channel_type);
      return null;
    },
    removePushRegistrations: async (cmd) => {
      await getClient(cmd.name).removePushRegistrations(cmd.channel_type, cmd.token);
      return null;
    },
  };

  // Each op answers as a driver.js line does; a result that JSON cannot carry is reported, not thrown.
  async function call(op, cmd) {
    try {
      const fn = OPS[op];
      if (!fn) throw new Error(`unknown op ${JSON.stringify(op)}`);
      const result = await fn(cmd);
      try {
        return { ok: true, result: JSON.parse(JSON.stringify(result ?? null)) };
      } catch (err) {
        return { ok: true, result: null, unserialisable: String(err) };
      }
    } catch (err) {
      return { ok: false, error: serializeError(err) };
    }
  }

  window.addEventListener('unhandledrejection', (e) => sendEvent('driverError', null, serializeError(e.reason)));
  window.addEventListener('error', (e) => sendEvent('driverError', null, serializeError(e.error ?? e.message)));

  window.__sdkDriver = { call, version: Client.version, hosting: () => (entry ? entry.name : null) };
})();
