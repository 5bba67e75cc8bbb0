'use strict';

// Socket.IO 4 comparison server for bench/ (never used by `make test`).
//
//   node server.js --port P [--redis redis://127.0.0.1:6379]
//
// One process: an http.Server on 127.0.0.1:P with a Socket.IO server on the
// default path (/socket.io/, polling + websocket), rooms from the handshake
// query `room`, and POST /pub speaking the same JSON envelope as our notify
// location, so that bench/loadgen drives all three systems the same way.
// With --redis the official Redis adapter carries emits between processes.

const http = require('node:http');
const { Server } = require('socket.io');

const HOST = '127.0.0.1';
const MAX_BODY = 16 * 1024 * 1024;
const DEFAULT_ROOM = 'bench';

// io.emit() throws on these (Socket.IO reserves them for its own use)
const RESERVED_EVENTS = new Set([
  'connect', 'connect_error', 'disconnect', 'disconnecting',
  'newListener', 'removeListener',
]);

function usage(msg) {
  if (msg) process.stderr.write(`server.js: ${msg}\n`);
  process.stderr.write('usage: node server.js --port P [--redis redis://HOST:PORT]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: null, redis: null };

  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];

    if (k === '--help' || k === '-h') usage();
    if (k !== '--port' && k !== '--redis') usage(`unknown argument: ${k}`);
    if (v === undefined) usage(`${k} needs a value`);
    i++;

    if (k === '--port') {
      if (!/^[0-9]{1,5}$/.test(v) || +v < 1 || +v > 65535) {
        usage(`--port: not a TCP port: ${v}`);
      }
      o.port = +v;
    } else {
      if (!/^rediss?:\/\/./.test(v)) usage(`--redis: not a redis:// URL: ${v}`);
      o.redis = v;
    }
  }

  if (o.port === null) usage('--port is required');
  return o;
}

// ---- the notify envelope ----------------------------------------------

class BadRequest extends Error {
  constructor(code, detail) {
    super(detail);
    this.code = code;
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function nonEmptyString(v) {
  return typeof v === 'string' && v.length > 0;
}

// one {"room"|"rooms","event","data"} object -> [room, event, data] triples
function parseEvent(o, where, out) {
  if (!isObject(o)) throw new BadRequest('invalid_event', `${where}must be an object`);

  for (const k of Object.keys(o)) {
    if (k !== 'room' && k !== 'rooms' && k !== 'event' && k !== 'data') {
      // unknown fields are refused so that typos do not pass silently
      throw new BadRequest('invalid_event', `${where}${k}: unknown field`);
    }
  }

  if (!('event' in o)) throw new BadRequest('invalid_event', `${where}event: missing`);
  if (!nonEmptyString(o.event)) {
    throw new BadRequest('invalid_event', `${where}event: must be a non-empty string`);
  }
  if (RESERVED_EVENTS.has(o.event)) {
    throw new BadRequest('invalid_event', `${where}event: "${o.event}" is reserved by Socket.IO`);
  }

  let rooms;

  if ('room' in o && 'rooms' in o) {
    throw new BadRequest('invalid_event', `${where}room, rooms: give one, not both`);
  } else if ('room' in o) {
    if (!nonEmptyString(o.room)) {
      throw new BadRequest('invalid_event', `${where}room: must be a non-empty string`);
    }
    rooms = [o.room];
  } else if ('rooms' in o) {
    if (!Array.isArray(o.rooms) || o.rooms.length === 0) {
      throw new BadRequest('invalid_event', `${where}rooms: must be a non-empty array`);
    }
    o.rooms.forEach((r, j) => {
      if (!nonEmptyString(r)) {
        throw new BadRequest('invalid_event', `${where}rooms[${j}]: must be a non-empty string`);
      }
    });
    rooms = o.rooms;
  } else {
    throw new BadRequest('invalid_event', `${where}room: missing (give "room" or "rooms")`);
  }

  // "data" is optional, null when absent (as in the notify location)
  const data = 'data' in o ? o.data : null;

  for (const r of rooms) out.push([r, o.event, data]);
}

// the whole body is checked before anything is emitted: all or nothing
function parseEnvelope(body) {
  let doc;

  try {
    // fatal: invalid UTF-8 is refused rather than silently replaced
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    throw new BadRequest('invalid_json', e.message);
  }

  if (!isObject(doc)) throw new BadRequest('invalid_json', 'the body must be a JSON object');

  const out = [];

  if ('events' in doc) {
    if (Object.keys(doc).length !== 1) {
      throw new BadRequest('invalid_event', 'a body with "events" must not have other fields');
    }
    if (!Array.isArray(doc.events) || doc.events.length === 0) {
      throw new BadRequest('invalid_event', 'events: must be a non-empty array of objects');
    }
    doc.events.forEach((ev, i) => parseEvent(ev, `events[${i}].`, out));
  } else {
    parseEvent(doc, '', out);
  }

  return out;
}

// ---- HTTP ---------------------------------------------------------------

function reply(res, status, obj, headers) {
  const body = typeof obj === 'string' ? obj : JSON.stringify(obj);

  // one write for headers and body: the load generator reads one response
  // with a single read()
  res.writeHead(status, {
    'Content-Type': typeof obj === 'string' ? 'text/plain' : 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function tooLarge(req, res) {
  // do not read the rest: answer and drop the connection
  reply(res, 413, { error: 'too_large', detail: `the body is larger than ${MAX_BODY} bytes` },
    { Connection: 'close' });
  res.on('finish', () => req.destroy());
}

function publish(io, req, res) {
  const ct = req.headers['content-type'];

  if (ct !== undefined && ct.split(';')[0].trim().toLowerCase() !== 'application/json') {
    req.resume();
    reply(res, 415, { error: 'unsupported_media_type', detail: 'the body must be application/json' });
    return;
  }

  const cl = req.headers['content-length'];

  if (cl !== undefined && +cl > MAX_BODY) {
    tooLarge(req, res);
    return;
  }

  const chunks = [];
  let size = 0;
  let failed = false;

  req.on('data', (c) => {
    if (failed) return;
    size += c.length;
    if (size > MAX_BODY) {
      failed = true;
      tooLarge(req, res);
      return;
    }
    chunks.push(c);
  });

  req.on('end', () => {
    if (failed) return;

    let triples;

    try {
      triples = parseEnvelope(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    } catch (e) {
      if (!(e instanceof BadRequest)) throw e;
      reply(res, 400, { error: e.code, detail: e.message });
      return;
    }

    // in order; with the Redis adapter each emit is also published to Redis
    for (const [room, event, data] of triples) {
      io.to(room).emit(event, data);
    }

    reply(res, 202, { published: triples.length });
  });
}

function handler(getIo) {
  return (req, res) => {
    const path = req.url.split('?', 1)[0];

    if (path === '/pub') {
      if (req.method !== 'POST') {
        req.resume();
        reply(res, 405, { error: 'method_not_allowed', detail: 'POST only' }, { Allow: 'POST' });
        return;
      }
      publish(getIo(), req, res);
      return;
    }

    // requests under /socket.io/ never get here: engine.io takes them first
    req.resume();

    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        reply(res, 405, { error: 'method_not_allowed', detail: 'GET only' }, { Allow: 'GET, HEAD' });
        return;
      }
      reply(res, 200, 'ok');
      return;
    }

    reply(res, 404, { error: 'not_found', detail: `no such path: ${path}` });
  };
}

// ---- Redis --------------------------------------------------------------

async function redisAdapter(url) {
  const { createClient } = require('redis');
  const { createAdapter } = require('@socket.io/redis-adapter');

  const pub = createClient({ url });
  const sub = pub.duplicate();

  // without an 'error' listener the client would throw and kill the process;
  // it reconnects by itself, so log (once per distinct error) and go on
  for (const [name, c] of [['pub', pub], ['sub', sub]]) {
    let last = '';
    c.on('error', (e) => {
      const msg = e && e.message ? e.message : String(e);
      if (msg !== last) process.stderr.write(`socketio bench server: redis ${name}: ${msg}\n`);
      last = msg;
    });
    c.on('ready', () => {
      if (last) process.stderr.write(`socketio bench server: redis ${name}: connected again\n`);
      last = '';
    });
  }

  // the clients retry for ever; the runner would rather see us fail
  const timer = setTimeout(() => {
    process.stderr.write(`socketio bench server: redis ${url}: not reachable in 10 s\n`);
    process.exit(1);
  }, 10000);

  await Promise.all([pub.connect(), sub.connect()]);
  clearTimeout(timer);

  return { adapter: createAdapter(pub, sub), clients: [pub, sub] };
}

// ---- main ---------------------------------------------------------------

async function main() {
  const opt = parseArgs(process.argv.slice(2));

  let io = null;

  // the request listener must exist before Socket.IO attaches: engine.io
  // takes over the listeners present at that moment and hands them every
  // request outside /socket.io/ (a listener added later would see those too)
  const onRequest = handler(() => io);
  const server = http.createServer({
    // headersTimeout above keepAliveTimeout, as Node recommends, so that an
    // idle keep-alive connection is never cut by the wrong timer
    headersTimeout: 121000,
    requestTimeout: 300000,
  }, onRequest);
  // a publisher sends thousands of requests on one keep-alive connection
  // and may pause between workloads
  server.keepAliveTimeout = 120000;
  server.maxRequestsPerSocket = 0; // no per-connection request limit
  server.timeout = 0;

  io = new Server(server, {
    serveClient: false,
    perMessageDeflate: false, // the v4 default, spelled out: no compression
    // default path /socket.io/ and transports ['polling', 'websocket']
  });

  let redis = null;

  if (opt.redis) {
    redis = await redisAdapter(opt.redis);
    io.adapter(redis.adapter);
  }

  // refuse a malformed room in the handshake (room=a&room=b, room=) with a
  // connect_error instead of joining something unexpected
  io.use((socket, next) => {
    const r = socket.handshake.query.room;
    if (r === undefined) {
      socket.data.room = DEFAULT_ROOM;
    } else if (nonEmptyString(r)) {
      socket.data.room = r;
    } else {
      next(new Error('room: must be one non-empty string'));
      return;
    }
    next();
  });

  // the join is synchronous and runs in the same tick as the namespace
  // CONNECT packet ("40") is queued, so a client that has seen "40" is in
  // its room
  io.on('connection', (socket) => {
    socket.join(socket.data.room);
  });

  server.on('error', (e) => {
    process.stderr.write(`socketio bench server: ${e.message}\n`);
    process.exit(1);
  });

  server.listen(opt.port, HOST, () => {
    process.stderr.write(
      `socketio bench server on ${HOST}:${opt.port} (${redis ? 'redis' : 'memory'})\n`);
  });

  let stopping = false;

  const stop = () => {
    if (stopping) return;
    stopping = true;

    // never hang on shutdown
    setTimeout(() => process.exit(0), 3000).unref();

    io.close(() => {
      const quits = redis ? redis.clients.map((c) => c.quit().catch(() => {})) : [];
      Promise.all(quits).then(() => process.exit(0));
    });
    // idle or busy keep-alive publishers would hold server.close() open
    // (the websockets are closed by io.close() itself)
    server.closeAllConnections();
  };

  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`socketio bench server: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
