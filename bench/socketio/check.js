'use strict';

// Self-test of server.js before a benchmark run:
//
//   node check.js --port P [--port2 Q]
//
// Two socket.io-client clients (websocket only, room "check"; the second on
// port Q when given, which proves delivery through Redis between two
// server.js processes), one POST /pub on port P; exit 0 only when both
// clients got event "b" with {"t":1,"i":0} within 5 s.

const { isDeepStrictEqual } = require('node:util');
const { io } = require('socket.io-client');

const HOST = '127.0.0.1';
const TIMEOUT_MS = 5000;
const ROOM = 'check';
const DATA = { t: 1, i: 0 };
const BODY = JSON.stringify({ room: ROOM, event: 'b', data: DATA });

function usage(msg) {
  if (msg) process.stderr.write(`check.js: ${msg}\n`);
  process.stderr.write('usage: node check.js --port P [--port2 Q]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: null, port2: null };

  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];

    if (k !== '--port' && k !== '--port2') usage(`unknown argument: ${k}`);
    if (v === undefined || !/^[0-9]{1,5}$/.test(v) || +v < 1 || +v > 65535) {
      usage(`${k}: not a TCP port: ${v}`);
    }
    o[k.slice(2)] = +v;
  }

  if (o.port === null) usage('--port is required');
  if (o.port2 === null) o.port2 = o.port;
  return o;
}

const clients = [];
let onEvent = null; // set once the event has been published

function finish(code, msg) {
  process.stderr.write(`check.js: ${msg}\n`);
  for (const c of clients) c.close();
  process.exit(code);
}

// resolves when the client is connected (its server has joined it to the
// room by then), rejects on connect_error
function connect(port, name) {
  const c = io(`http://${HOST}:${port}`, {
    transports: ['websocket'],
    query: { room: ROOM },
    reconnection: false,
    timeout: TIMEOUT_MS,
  });

  clients.push(c);
  c.got = null;
  c.on('b', (data) => {
    if (c.got === null) c.got = data;
    if (onEvent) onEvent();
  });

  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('connect_error', (e) => reject(new Error(`${name} (port ${port}): ${e.message}`)));
  });
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));

  const deadline = setTimeout(() => {
    finish(1, `not connected after ${TIMEOUT_MS / 1000} s: `
      + clients.map((c, j) => `client ${j + 1} ${c.connected ? 'connected' : 'not connected'}`).join(', '));
  }, TIMEOUT_MS);

  await Promise.all([connect(opt.port, 'client 1'), connect(opt.port2, 'client 2')]);

  clearTimeout(deadline);

  const sent = Date.now();
  const res = await fetch(`http://${HOST}:${opt.port}/pub`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: BODY,
  });
  const text = await res.text();

  if (res.status !== 202 || text !== '{"published":1}') {
    finish(1, `POST /pub answered ${res.status} ${text}`);
  }

  setTimeout(() => {
    finish(1, `after ${TIMEOUT_MS / 1000} s: ${clients.map((c, j) =>
      `client ${j + 1} got ${c.got === null ? 'nothing' : JSON.stringify(c.got)}`).join(', ')}`);
  }, TIMEOUT_MS);

  onEvent = () => {
    if (clients.some((c) => c.got === null)) return;

    for (const [j, c] of clients.entries()) {
      if (!isDeepStrictEqual(c.got, DATA)) {
        finish(1, `client ${j + 1} got ${JSON.stringify(c.got)}, expected ${JSON.stringify(DATA)}`);
      }
    }

    finish(0, `ok: both clients (ports ${opt.port}, ${opt.port2}) got "b" ${JSON.stringify(DATA)}`
      + ` in ${Date.now() - sent} ms`);
  };
  onEvent(); // both may have arrived while the POST was answered
}

// fetch() hides the reason (ECONNREFUSED, ...) in e.cause
main().catch((e) => finish(1, e.cause ? `${e.message}: ${e.cause.message}` : e.message));
