#!/usr/bin/env node
'use strict';

// Many-connection client for the scale tests (t/033-scale.t), on the "ws"
// npm package.  Opens N connections; connection i uses the URL with every
// "{i}" replaced by i and "{m}" by i modulo --mod, so that the server's
// signal_join can place it.  Checks
// every event as it arrives: per connection and room, seq must be the
// previous one plus one (starting at 1), which catches gaps, duplicates
// and reordering.
//
// Line protocol: stdout gets "READY <open>" once every connection is open
// (or failed); each line on stdin asks for a report, one JSON line:
//   {"open":N,"closed":N,"events":N,"bad":N,"first_bad":"...",
//    "counts":[per connection]}
//
// Usage: fanout.js --url URL --connections N [--mod M] [--timeout SEC]

const WebSocket = require('ws');
const readline = require('readline');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
    args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}

const n = parseInt(args.connections || '0', 10);
const mod = parseInt(args.mod || '1', 10);
if (!args.url || !(n > 0)) {
    process.stderr.write('usage: fanout.js --url URL --connections N\n');
    process.exit(1);
}

setTimeout(() => {
    process.stderr.write('fanout.js: timeout\n');
    process.exit(2);
}, 1000 * parseInt(args.timeout || '60', 10)).unref();

const counts = new Array(n).fill(0);
const last = [];
let open = 0, settled = 0, closed = 0, events = 0, bad = 0, firstBad = '';

function check(i, m) {
    const key = m.room;
    const want = (last[i].get(key) || 0) + 1;

    if (m.seq !== want) {
        bad++;
        if (!firstBad) {
            firstBad = `connection ${i} room ${key}: seq ${m.seq}, `
                + `expected ${want}`;
        }
    }

    last[i].set(key, m.seq);
}

function settle() {
    if (++settled === n) {
        process.stdout.write(`READY ${open}\n`);
    }
}

for (let i = 0; i < n; i++) {
    last.push(new Map());

    const ws = new WebSocket(args.url.split('{i}').join(String(i))
        .split('{m}').join(String(i % mod)));

    ws.on('open', () => { open++; settle(); });
    ws.on('error', () => { if (ws.readyState !== WebSocket.OPEN) settle(); });
    ws.on('close', () => { closed++; });

    ws.on('message', (data) => {
        let m;
        try { m = JSON.parse(data); } catch (e) { bad++; return; }
        if (m.type !== 'event') return;
        counts[i]++;
        events++;
        check(i, m);
    });
}

readline.createInterface({ input: process.stdin }).on('line', () => {
    process.stdout.write(JSON.stringify({ open, closed, events, bad,
        first_bad: firstBad, counts }) + '\n');
}).on('close', () => process.exit(0));
