#!/usr/bin/env node
'use strict';

// Interop client for ngx_signal_module built on the "ws" npm package (v8).
// Driven by t/040-interop-node.t; the output is a line protocol on stdout:
//
//   PONG <payload>          our WebSocket ping was answered (--ping)
//   SUBSCRIBED <json>       the "subscribed" reply (before READY)
//   READY                   subscribed, ready for events
//   {"type":"event",...}    one line per event received (re-serialized)
//   MSG <json>              any other server message
//   CLOSED code=N clean=0|1 ms=N reason=TEXT
//                           the connection closed, as "ws" reports it;
//                           ms is the time from our close() (or from the
//                           oversize send) to the close event
//   ERROR <text>            (stderr too) something failed
//
// Usage:
//   ws-client.js --url ws://127.0.0.1:P/ws --room R [--count N]
//       [--timeout SEC] [--ping] [--fragment] [--oversize BYTES]
//       [--hold SEC]
//
// Exit status: 0 when the scenario completed, 1 on error, 2 on timeout.

const WebSocket = require('ws');

function usage(msg) {
    process.stderr.write(`ws-client.js: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const o = { count: 0, timeout: 10, ping: false, fragment: false,
        oversize: 0, hold: 0 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
        case '--url': o.url = val(); break;
        case '--room': o.room = val(); break;
        case '--count': o.count = parseInt(val(), 10); break;
        case '--timeout': o.timeout = parseFloat(val()); break;
        case '--ping': o.ping = true; break;
        case '--fragment': o.fragment = true; break;
        case '--oversize': o.oversize = parseInt(val(), 10); break;
        case '--hold': o.hold = parseFloat(val()); break;
        default: usage(`unknown argument ${a}`);
        }
    }
    if (!o.url || !o.room) usage('--url and --room are required');
    return o;
}

const opt = parseArgs(process.argv.slice(2));

function out(line) {
    process.stdout.write(line + '\n');
}

let finished = false;

function finish(status, msg) {
    if (finished) return;
    finished = true;
    if (msg) {
        out(`ERROR ${msg}`);
        process.stderr.write(`ws-client.js: ${msg}\n`);
    }
    clearTimeout(timer);
    // let stdout drain before exiting
    process.stdout.write('', () => process.exit(status));
}

const timer = setTimeout(() => {
    finished = true;
    out('TIMEOUT');
    process.stderr.write(`ws-client.js: timeout after ${opt.timeout}s `
        + `(${events} events received, phase ${phase})\n`);
    process.stdout.write('', () => process.exit(2));
}, opt.timeout * 1000);

let phase = 'connect';
let events = 0;
let closeStarted = 0;

const ws = new WebSocket(opt.url, { handshakeTimeout: opt.timeout * 1000 });

ws.on('error', (err) => {
    out(`ERROR ${err.message}`);
    process.stderr.write(`ws-client.js: ${err.stack || err}\n`);
});

ws.on('unexpected-response', (req, res) => {
    finish(1, `unexpected handshake response ${res.statusCode}`);
});

ws.on('close', (code, reason) => {
    const ms = closeStarted ? Date.now() - closeStarted : -1;
    // "ws" reports 1006 when no close frame was received; a close
    // handshake completed both ways is a clean close
    const clean = ws._closeFrameReceived && ws._closeFrameSent ? 1 : 0;
    out(`CLOSED code=${code} clean=${clean} ms=${ms} `
        + `reason=${reason.toString()}`);
    if (phase === 'closing' || phase === 'oversize') {
        finish(0);
    } else {
        finish(1, `connection closed in phase ${phase}`);
    }
});

function sendSubscribe() {
    const id = opt.fragment ? 'frag-\u00fc\u20ac' : 'sub-1';
    const msg = JSON.stringify({ type: 'subscribe', room: opt.room, id });
    phase = 'subscribe';

    if (!opt.fragment) {
        ws.send(msg);
        return;
    }

    // A text message in three frames, the cuts falling inside the
    // multi-byte UTF-8 sequences of the id, with a ping interleaved
    // between the fragments.
    const buf = Buffer.from(msg, 'utf8');
    const c1 = buf.indexOf(0xc3) + 1;          // inside "ü"
    const c2 = buf.indexOf(0xe2) + 2;          // inside "€"
    const pieces = [buf.subarray(0, c1), buf.subarray(c1, c2),
        buf.subarray(c2)];
    ws.send(pieces[0], { binary: false, fin: false });
    ws.ping(Buffer.from('mid-fragment'));
    ws.send(pieces[1], { binary: false, fin: false });
    ws.send(pieces[2], { binary: false, fin: true });
    out(`FRAGMENTS ${pieces.map((p) => p.length).join(',')}`);
}

function startClose() {
    phase = 'closing';
    closeStarted = Date.now();
    ws.close(1000, 'bye');
}

function ready() {
    if (opt.oversize > 0) {
        // a valid message padded beyond the server's limit
        const pad = 'x'.repeat(opt.oversize);
        const msg = JSON.stringify({ type: 'ping', id: 'big', pad });
        phase = 'oversize';
        out(`OVERSIZE ${Buffer.byteLength(msg)}`);
        closeStarted = Date.now();
        ws.send(msg);
        return;
    }

    phase = 'events';
    out('READY');
    if (opt.count === 0) {
        setTimeout(startClose, opt.hold * 1000);
    }
}

ws.on('pong', (data) => {
    out(`PONG ${data.toString()}`);
    if (phase === 'ping') sendSubscribe();
});

ws.on('open', () => {
    if (ws.protocol) out(`PROTOCOL ${ws.protocol}`);
    if (ws.extensions) out(`EXTENSIONS ${ws.extensions}`);
    if (opt.ping) {
        phase = 'ping';
        ws.ping(Buffer.from('hello-ping'));
    } else {
        sendSubscribe();
    }
});

ws.on('message', (data, isBinary) => {
    if (isBinary) {
        finish(1, 'binary message received');
        return;
    }
    let msg;
    try {
        msg = JSON.parse(data.toString('utf8'));
    } catch (e) {
        finish(1, `invalid JSON from server: ${data.toString()}`);
        return;
    }

    if (msg.type === 'subscribed' && phase === 'subscribe') {
        out(`SUBSCRIBED ${JSON.stringify(msg)}`);
        ready();
        return;
    }

    if (msg.type === 'event' && phase === 'events') {
        out(JSON.stringify(msg));
        events++;
        if (opt.count > 0 && events >= opt.count) startClose();
        return;
    }

    out(`MSG ${JSON.stringify(msg)}`);
});
