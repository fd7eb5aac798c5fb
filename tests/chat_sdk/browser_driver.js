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
  const { Client } = window.Twilio.Conversations;

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

  const {
    serializeError, serialize, withTimeout, makeHelpers: helpersFor,
  } = window.__sdkValues; // tests/chat_sdk/sdk_values.js, injected before this file

  // A page has no modules to load: a snippet that needs one belongs to the Node driver.
  const noRequire = (name) => {
    throw new Error(`require(${JSON.stringify(name)}) is not available in the browser`);
  };
  const makeHelpers = (client) => helpersFor(client, noRequire);

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
