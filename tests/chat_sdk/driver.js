#!/usr/bin/env node
// Test driver: hosts any number of named, unmodified @twilio/conversations clients and is steered by pytest
// (tests/support/sdk_driver.py) over stdin/stdout, one JSON object per line.
//
// stdin, commands:  {"id": <int>, "op": "connect" | "run" | "shutdown" | "exit" | "setPushRegistrationId"
//                    | "unsetPushRegistrationId" | "removePushRegistrations", ...}
// stdout, results:  {"id": <int>, "ok": true, "result": <json>}
//                   {"id": <int>, "ok": false, "error": {"name", "message", "code", "status", "stack"}}
// stdout, events:   {"event": <name>, "client": <client name | null>, "data": <json>, "t": <ms since start>}
//
// Nothing else is written to stdout: every console method goes to stderr, so SDK logs cannot corrupt the stream.
'use strict';

const T0 = Date.now();
const toStderr = (...parts) => process.stderr.write(`${require('util').format(...parts)}\n`);
// Before the SDK is loaded: loglevel binds console methods, and console.log/info/debug write to stdout in Node.
for (const method of ['log', 'info', 'debug', 'trace', 'dir']) console[method] = toStderr;

const readline = require('readline');
const { Client } = require('@twilio/conversations');

const CLIENT_EVENTS = [
  'connectionStateChanged', 'connectionError', 'stateChanged', 'initFailed', 'tokenAboutToExpire', 'tokenExpired',
  'conversationAdded', 'conversationJoined', 'conversationLeft', 'conversationRemoved', 'conversationUpdated',
  'messageAdded', 'messageUpdated', 'messageRemoved', 'participantJoined', 'participantLeft', 'participantUpdated',
  'typingStarted', 'typingEnded', 'userUpdated',
];
const DEFAULT_CONNECT_TIMEOUT_MS = 20000;
const SHUTDOWN_TIMEOUT_MS = 5000;
const INIT_FAILED_GRACE_MS = 250;

const clients = new Map(); // name -> {client, detach}
let exiting = false;

function write(obj) {
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (err) {
    line = JSON.stringify({ ...obj, data: undefined, result: null, unserialisable: String(err) });
  }
  process.stdout.write(`${line}\n`);
}

const sendEvent = (event, client, data) => write({ event, client, data, t: Date.now() - T0 });

const {
  serializeError, serialize, withTimeout, makeHelpers: helpersFor,
} = require('./sdk_values');

const makeHelpers = (client) => helpersFor(client, require);


// ---- ops -----------------------------------------------------------------------------------------------------

function getClient(name) {
  const entry = clients.get(name);
  if (!entry) throw new Error(`no client named ${JSON.stringify(name)}`);
  return entry.client;
}

async function shutdownEntry(name) {
  const entry = clients.get(name);
  if (!entry) throw new Error(`no client named ${JSON.stringify(name)}`);
  clients.delete(name);
  try {
    await withTimeout(entry.client.shutdown(), SHUTDOWN_TIMEOUT_MS, `shutdown of ${name}`);
  } finally {
    entry.detach();
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

async function opConnect(cmd) {
  const { name, token, uri } = cmd;
  if (typeof name !== 'string' || !name) throw new Error('connect needs a client name');
  if (clients.has(name)) throw new Error(`a client named ${JSON.stringify(name)} already exists`);
  const options = { logLevel: 'warn', ...(cmd.options || {}) };
  if (uri) options.twilsock = { ...(options.twilsock || {}), uri };
  const timeoutMs = cmd.timeout_ms ?? DEFAULT_CONNECT_TIMEOUT_MS;

  const client = new Client(token, options);
  const detach = attach(name, client);
  clients.set(name, { client, detach });

  let onState;
  let onFailed;
  let timer;
  try {
    await new Promise((resolve, reject) => {
      onState = (state) => {
        if (state === 'initialized') resolve();
      };
      // initFailed carries {error: {terminal, message}}; a plain connectionError does not fail the op.
      // On a denied init the SDK first emits initFailed "Twilsock has disconnected." and only then a second one
      // carrying httpStatusCode/errorCode: wait a moment and reject with the most telling cause seen.
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
        `connect timed out after ${timeoutMs} ms (connectionState ${client.connectionState})`,
      )), timeoutMs);
      client.on('stateChanged', onState);
      client.on('initFailed', onFailed);
    });
  } catch (err) {
    // The SDK keeps reconnecting after a failed first connect: unless asked to keep it, stop and forget it.
    if (!cmd.keep_on_failure && clients.get(name)?.client === client) {
      await shutdownEntry(name).catch((e) => toStderr(`[driver] shutdown after failed connect: ${e.stack || e}`));
    }
    throw err;
  } finally {
    clearTimeout(timer);
    client.off('stateChanged', onState);
    client.off('initFailed', onFailed);
  }
  return { identity: client.user ? client.user.identity : null, connectionState: client.connectionState };
}

async function opRun(cmd) {
  const client = cmd.name === undefined || cmd.name === null ? undefined : getClient(cmd.name);
  if (typeof cmd.code !== 'string') throw new Error('run needs `code`, the source of an async function');
  // eslint-disable-next-line no-new-func
  const fn = new Function('require', `"use strict"; return (${cmd.code}\n);`)(require);
  if (typeof fn !== 'function') throw new Error('`code` did not evaluate to a function');
  const work = Promise.resolve().then(() => fn(client, cmd.args ?? null, makeHelpers(client)));
  const result = cmd.timeout_ms ? await withTimeout(work, cmd.timeout_ms, 'run') : await work;
  return serialize(result);
}

async function opShutdown(cmd) {
  await shutdownEntry(cmd.name);
  return null;
}

async function shutdownAll() {
  const names = [...clients.keys()];
  await Promise.allSettled(names.map((n) => shutdownEntry(n).catch((e) => {
    toStderr(`[driver] shutdown of ${n}: ${e.stack || e}`);
  })));
}

async function exitDriver(code = 0) {
  if (exiting) return;
  exiting = true;
  const hardStop = setTimeout(() => process.exit(code), SHUTDOWN_TIMEOUT_MS + 2000);
  hardStop.unref();
  await shutdownAll();
  process.stdout.write('', () => process.exit(code));
}

// Push registration (the SDK sends it to its push registry, ERS, through the socket). The SDK refuses a channel
// type other than 'fcm' or 'apn' itself; each op resolves when the registry answered.
async function opSetPushRegistrationId(cmd) {
  await getClient(cmd.name).setPushRegistrationId(cmd.channel_type, cmd.token);
  return null;
}

async function opUnsetPushRegistrationId(cmd) {
  await getClient(cmd.name).unsetPushRegistrationId(cmd.channel_type);
  return null;
}

async function opRemovePushRegistrations(cmd) {
  await getClient(cmd.name).removePushRegistrations(cmd.channel_type, cmd.token);
  return null;
}

const OPS = {
  connect: opConnect,
  run: opRun,
  shutdown: opShutdown,
  setPushRegistrationId: opSetPushRegistrationId,
  unsetPushRegistrationId: opUnsetPushRegistrationId,
  removePushRegistrations: opRemovePushRegistrations,
};

async function handle(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    toStderr(`[driver] not JSON: ${line}`);
    write({ id: null, ok: false, error: serializeError(err) });
    return;
  }
  const { id, op } = cmd;
  if (op === 'exit') {
    write({ id, ok: true, result: null });
    await exitDriver(0);
    return;
  }
  try {
    const fn = OPS[op];
    if (!fn) throw new Error(`unknown op ${JSON.stringify(op)}`);
    write({ id, ok: true, result: await fn(cmd) });
  } catch (err) {
    write({ id, ok: false, error: serializeError(err) });
  }
}

process.on('unhandledRejection', (reason) => {
  toStderr(`[driver] unhandled rejection: ${(reason && reason.stack) || safeString(reason)}`);
  sendEvent('driverError', null, serializeError(reason));
});
process.on('uncaughtException', (err) => {
  toStderr(`[driver] uncaught exception: ${(err && err.stack) || err}`);
  sendEvent('driverError', null, serializeError(err));
});
process.stdout.on('error', () => process.exit(1)); // the reader went away

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  handle(line);
});
rl.on('close', () => exitDriver(0));
toStderr(`[driver] ready: node ${process.version}, @twilio/conversations ${Client.version}`);
