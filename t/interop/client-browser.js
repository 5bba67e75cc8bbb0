#!/usr/bin/env node
'use strict';

// Scenarios of clients/js/signal.js in a real browser, for t/047-client.t:
// Debian's /usr/bin/chromium headless, driven by playwright-core; the
// test page (t/interop/client-page.html) and the library are served by
// the nginx under test. This script publishes (notify), reads
// signal_status, blocks transports (files the server's "if" tests, in
// --dir), reloads nginx (SIGHUP to the pid in --dir/nginx.pid) and mints
// HS256 tokens (--secret); it prints one line per scenario:
//
//   RESULT <name> <json>     what the pages saw and what was published
//   ERROR <name> <text>      the scenario failed before its end
//
// The test file makes the assertions. Scenarios run at once but d (a
// reload), which runs alone, last; --only runs the named ones one by one.
//
// Usage: client-browser.js --base http://127.0.0.1:P --dir DIR
//            --secret S [--only a,b,...] [--timeout SEC]
// Exit status: 0, or 1 when a scenario failed with an ERROR.

const crypto = require('crypto');
const fs = require('fs');
const httpLib = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function usage(msg) {
    process.stderr.write(`client-browser.js: ${msg}\n`);
    process.exit(1);
}

const opt = { timeout: 50, only: null };
{
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
        case '--base': opt.base = val(); break;
        case '--dir': opt.dir = val(); break;
        case '--secret': opt.secret = val(); break;
        case '--only': opt.only = val().split(','); break;
        case '--timeout': opt.timeout = parseFloat(val()); break;
        default: usage(`unknown argument ${a}`);
        }
    }
    if (!opt.base || !opt.dir || !opt.secret) {
        usage('--base, --dir and --secret are required');
    }
}

const out = (line) => process.stdout.write(line + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => process.stderr.write(`[${new Date().toISOString()}] ${msg}\n`);

///////////////////////////////////////////////////////////////////////////////
// the server side

// A request on a new connection each time (Connection: close): a
// kept-alive one could be closed by an old worker under us at a reload.
function http(method, p, body) {
    return new Promise((resolve, reject) => {
        const data = body ? Buffer.from(JSON.stringify(body)) : null;
        const req = httpLib.request(opt.base + p, {
            method, agent: false, timeout: 10000,
            headers: data ? { 'Content-Type': 'application/json',
                'Content-Length': data.length } : {},
        }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                if (res.statusCode < 200 || res.statusCode > 299) {
                    reject(new Error(`${method} ${p}: ${res.statusCode} ${text}`));
                    return;
                }
                try {
                    resolve(JSON.parse(text));
                } catch (e) {
                    resolve(null);
                }
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timeout`)));
        req.on('error', reject);
        req.end(data || undefined);
    });
}

// one event, data {n}; [room, n, seq, epoch]
async function publish(room, n, notify) {
    const j = await http('POST', notify || '/notify',
        { room, event: 'tick', data: { n } });
    const p = j.published[0];
    return [room, n, p.seq, p.epoch];
}

const status = () => http('GET', '/status');

// connections in a room, across workers
const presence = async (room) =>
    (await http('GET', '/presence?room=' + encodeURIComponent(room))).connections;

// the server refuses WebSocket (kind 'ws') or event streams ('sse') to
// the requests of ?startup=<tag> while the file exists
function block(kind, tag, on) {
    const f = path.join(opt.dir, `block-${kind}-${tag}`);
    if (on) fs.writeFileSync(f, '');
    else fs.rmSync(f, { force: true });
}

function reload() {
    const pid = parseInt(fs.readFileSync(path.join(opt.dir, 'nginx.pid'), 'utf8'), 10);
    process.kill(pid, 'SIGHUP');
}

function mint(sub, ttl) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const input = b64({ alg: 'HS256', typ: 'JWT' }) + '.'
        + b64({ sub, iat: now, exp: now + ttl });
    return input + '.' + crypto.createHmac('sha256', opt.secret).update(input)
        .digest('base64url');
}

// Publishes n = 1..count to the rooms in turn, every `every` ms; at(i) is
// called before the i-th (true: stop there); the published [room, n, seq].
async function steady(rooms, count, every, at) {
    const pub = [];
    for (let i = 1; i <= count; i++) {
        if (at && await at(i)) break;
        pub.push(await publish(rooms[(i - 1) % rooms.length], i));
        await sleep(every);
    }
    return pub;
}

///////////////////////////////////////////////////////////////////////////////
// the browser side

let browser;
const contexts = new Map();     // scenario → its browser contexts

async function newContext(tag, init) {
    const ctx = await browser.newContext();
    if (!contexts.has(tag)) contexts.set(tag, []);
    contexts.get(tag).push(ctx);
    if (init) await ctx.addInitScript(init);
    return ctx;
}

async function openPage(ctx, tag) {
    log(`${tag}: opening`);
    const page = await ctx.newPage();
    page.on('console', (m) => log(`${tag} console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log(`${tag} pageerror: ${e}`));
    const resp = await page.goto(opt.base + '/t/client-page.html', { timeout: 20000 });
    if (!resp || !resp.ok()) throw new Error(`page: ${resp ? resp.status() : 'none'}`);
    await page.waitForFunction(() => window.T, null, { timeout: 20000 });
    log(`${tag}: open`);
    return page;
}

const start = (page, name, o) => page.evaluate(([n, x]) => window.T.start(n, x), [name, o]);
const get = (page, name) => page.evaluate((n) => window.T.get(n), name);

async function waitState(page, name, state, ms, transport) {
    ms *= 2;            // generous: a loaded machine; the wait ends at once
    try {
        await page.waitForFunction(([n, s, t]) => {
            const c = window.T.clients[n].c;
            return c.state === s && (!t || c.transport === t);
        }, [name, state, transport || null], { timeout: ms, polling: 50 });
        return true;
    } catch (e) {
        return false;
    }
}

// the room is subscribed: its position is known
async function waitPos(page, name, room, ms) {
    try {
        await page.waitForFunction(([n, r]) => r in window.T.clients[n].c.positions(),
            [name, room], { timeout: ms * 2, polling: 50 });
        return true;
    } catch (e) {
        return false;
    }
}

async function waitCount(page, name, count, ms, room) {
    ms *= 2;
    try {
        await page.waitForFunction(([n, k, r]) => window.T.count(n, r) >= k,
            [name, count, room || null], { timeout: ms, polling: 50 });
        return true;
    } catch (e) {
        return false;
    }
}

// what a page got, compactly: [room, n, seq]
function summary(rec) {
    return {
        state: rec.state, transport: rec.transport, states: rec.states,
        events: rec.events.filter((e) => e.event === 'tick')
            .map((e) => [e.room, e.data && e.data.n, e.seq]),
        warm: rec.events.filter((e) => e.event === 'warm').length,
        gaps: rec.gaps, errors: rec.errors, positions: rec.positions,
        tokenCalls: rec.tokenCalls, link: rec.link,
    };
}

// Over long-polling a client is in its rooms once the server took its
// first poll, which it cannot tell before the poll is answered: 'polling'
// comes after 1 s of a held poll. Until each client knows the position of
// each of its rooms, publish 'warm' events to the rooms it does not (the
// scenarios count 'tick' events only).
async function warm(list) {
    const end = Date.now() + 10000;
    while (Date.now() < end) {
        const missing = new Set();
        for (const [page, name, rooms] of list) {
            const p = await page.evaluate((n) => window.T.clients[n].c.positions(), name);
            for (const r of rooms) if (!(r in p)) missing.add(r);
        }
        if (missing.size === 0) return true;
        for (const r of missing) {
            await http('POST', '/notify', { room: r, event: 'warm', data: { n: 0 } });
        }
        await sleep(250);
    }
    return false;
}

const strip = (pub) => pub.map(([room, n, seq]) => [room, n, seq]);

///////////////////////////////////////////////////////////////////////////////
// scenarios

const scenarios = {};

// (a) WebSocket: a handshake room (signal_join, from params) and an option
// room; unsubscribe; offline and back
scenarios.a = async () => {
    const ctx = await newContext('a');
    const page = await openPage(ctx, 'a');
    await start(page, 'a', { url: '/ws', params: { startup: 'a' },
        rooms: ['extra:a'] });
    const live = await waitState(page, 'a', 'live', 5000);
    const pub = [];
    for (let i = 1; i <= 10; i++) {
        pub.push(await publish(i % 2 ? 'startup:a' : 'extra:a', i));
    }
    await waitCount(page, 'a', 10, 5000);
    const before = summary(await get(page, 'a'));

    // unsubscribe: the option room stops, the handshake room goes on
    await page.evaluate(() => window.T.clients.a.c.unsubscribe('extra:a'));
    await sleep(300);
    const after = [await publish('extra:a', 100), await publish('startup:a', 101)];
    await waitCount(page, 'a', 11, 5000);
    await sleep(200);

    // offline, online
    await ctx.setOffline(true);
    const offline = await waitState(page, 'a', 'offline', 3000);
    const missed = await publish('startup:a', 102);
    await ctx.setOffline(false);
    const back = await waitState(page, 'a', 'live', 5000);
    await waitCount(page, 'a', 12, 5000);
    const end = summary(await get(page, 'a'));
    await ctx.close();
    return { live, published: strip(pub), before, after: strip(after),
        offline, back, missed: strip([missed])[0], end };
};

// (b) WebSocket refused (403 on the upgrade): event stream, 'polling';
// WebSocket allowed again under steady publishing: back to 'live'
scenarios.b = async () => {
    block('ws', 'b', true);
    const ctx = await newContext('b');
    const page = await openPage(ctx, 'b');
    await start(page, 'b', { url: '/ws', params: { startup: 'b' },
        rooms: ['extra:b'], upgradeInterval: 1000 });
    const polling = await waitState(page, 'b', 'polling', 8000, 'eventsource');
    // until 10 events after the switch back
    let liveAt = 0;
    const pub = await steady(['startup:b', 'extra:b'], 100, 80, async (i) => {
        if (i === 10) block('ws', 'b', false);
        if (i > 10 && !liveAt && (await get(page, 'b')).state === 'live') liveAt = i;
        return liveAt && i >= liveAt + 10;
    });
    const live = await waitState(page, 'b', 'live', 5000, 'websocket');
    await waitCount(page, 'b', pub.length, 5000);
    await sleep(300);
    const rec = summary(await get(page, 'b'));
    await ctx.close();
    return { polling, live, liveAt, published: strip(pub), rec };
};

// (c) WebSocket and event streams refused: long-polling; then both
// allowed again: 'live'
scenarios.c = async () => {
    block('ws', 'c', true);
    block('sse', 'c', true);
    const ctx = await newContext('c');
    const page = await openPage(ctx, 'c');
    await start(page, 'c', { url: '/ws', params: { startup: 'c' },
        rooms: ['extra:c'], upgradeInterval: 1000 });
    const polling = await waitState(page, 'c', 'polling', 8000, 'longpoll')
        && await warm([[page, 'c', ['startup:c', 'extra:c']]]);
    let liveAt = 0;
    const pub = await steady(['startup:c', 'extra:c'], 100, 80, async (i) => {
        if (i === 15) {
            block('ws', 'c', false);
            block('sse', 'c', false);
        }
        if (i > 15 && !liveAt && (await get(page, 'c')).state === 'live') liveAt = i;
        return liveAt && i >= liveAt + 10;
    });
    const live = await waitState(page, 'c', 'live', 5000, 'websocket');
    await waitCount(page, 'c', pub.length, 5000);
    await sleep(300);
    const rec = summary(await get(page, 'c'));
    await ctx.close();
    return { polling, live, liveAt, published: strip(pub), rec };
};

// (d) nginx reload under steady publishing, a page on each transport
scenarios.d = async () => {
    const ctx = await newContext('d');
    const kinds = ['websocket', 'eventsource', 'longpoll'];
    const page = await openPage(ctx, 'd');
    for (const k of kinds) {
        await start(page, k, { url: '/ws', params: { startup: 'd' },
            rooms: ['extra:d'], transports: [k] });
    }
    const ready = [];
    for (const k of kinds) {
        ready.push(await waitState(page, k, k === 'websocket' ? 'live' : 'polling', 5000));
    }
    ready.push(await warm(kinds.map((k) => [page, k, ['startup:d', 'extra:d']])));
    const pub = await steady(['startup:d', 'extra:d'], 44, 40, async (i) => {
        if (i === 10) reload();
    });
    const recs = {};
    for (const k of kinds) await waitCount(page, k, pub.length, 6000);
    await sleep(300);
    for (const k of kinds) recs[k] = summary(await get(page, k));
    const st = await status();
    await ctx.close();
    return { ready, published: strip(pub), recs, closes: st.closes };
};

// (e) two tabs, one connection: with a SharedWorker, and with a leader
// tab (no SharedWorker) whose tab then closes
async function twoTabs(tag, init) {
    const ctx = await newContext(tag, init);
    const A = await openPage(ctx, tag + 'A');
    await start(A, 'A', { url: '/ws', params: { startup: tag },
        rooms: [`extra:${tag}1`] });
    const liveA = await waitState(A, 'A', 'live', 5000);
    const B = await openPage(ctx, tag + 'B');
    await start(B, 'B', { url: '/ws', params: { startup: tag },
        rooms: [`extra:${tag}2`] });
    // a tab that joins a live connection: its room is subscribed once
    // its position is known
    const liveB = await waitState(B, 'B', 'live', 5000)
        && await waitPos(B, 'B', `extra:${tag}2`, 5000);
    await sleep(300);
    const samples = [];
    for (let i = 0; i < 5; i++) {
        samples.push(await presence(`startup:${tag}`));
        await sleep(100);
    }
    const rooms = [`startup:${tag}`, `extra:${tag}1`, `extra:${tag}2`];
    const pub = await steady(rooms, 12, 20);
    await waitCount(A, 'A', 8, 5000);
    await waitCount(B, 'B', 8, 5000);
    await sleep(300);
    const recA = summary(await get(A, 'A'));
    const recB = summary(await get(B, 'B'));

    // the first tab goes: the other one keeps its events, without a
    // hole, and the server one connection
    await A.close({ runBeforeUnload: false });
    const pub2 = await steady(rooms, 24, 40);
    await waitCount(B, 'B', 8 + 16, 6000);
    await sleep(300);
    const recB2 = summary(await get(B, 'B'));
    await waitState(B, 'B', 'live', 5000);
    await sleep(300);
    const after = await presence(`startup:${tag}`);
    await ctx.close();
    return { liveA, liveB, samples, published: strip(pub), recA, recB,
        published2: strip(pub2), recB2, after };
}

scenarios.e = () => twoTabs('e');
scenarios.e2 = () => twoTabs('e2', () => {
    delete window.SharedWorker;
});

// (f) tokens of 4 s from getToken(), refreshed: on each transport, no
// 4001 and (WebSocket) no reconnect past several expiries
scenarios.f = async () => {
    const st0 = await status();
    const ctx = await newContext('f');
    const kinds = ['websocket', 'eventsource', 'longpoll'];
    const page = await openPage(ctx, 'f');
    await page.exposeFunction('mintToken', (sub) => mint(sub, 4));
    for (let i = 0; i < kinds.length; i++) {
        await start(page, kinds[i], { url: '/jwt', tokenFor: 'u' + i,
            transports: [kinds[i]] });
    }
    const ready = [];
    for (const k of kinds) {
        ready.push(await waitState(page, k, k === 'websocket' ? 'live' : 'polling', 5000));
    }
    ready.push(await warm(kinds.map((k, i) => [page, k, ['user:u' + i]])));
    const pub = [];
    const t0 = Date.now();
    for (let n = 1; Date.now() - t0 < 7000; n++) {
        for (let i = 0; i < kinds.length; i++) pub.push(await publish('user:u' + i, n));
        await sleep(400);
    }
    const seconds = (Date.now() - t0) / 1000;
    const recs = {};
    for (const k of kinds) await waitCount(page, k, pub.length / kinds.length, 5000);
    for (const k of kinds) recs[k] = summary(await get(page, k));
    const st = await status();
    await ctx.close();
    return { ready, seconds, published: strip(pub), recs,
        closes4001: (st.closes['4001'] || 0) - (st0.closes['4001'] || 0) };
};

// (s) the token as a WebSocket subprotocol (the shipped configurations'
// signal_jwt_token default), not in the URL
scenarios.s = async () => {
    const ctx = await newContext('s');
    const page = await openPage(ctx, 's');
    await page.exposeFunction('mintToken', (sub) => mint(sub, 60));
    await start(page, 'ws', { url: '/jwtsub', tokenFor: 'sp',
        protocols: ['signal.v1'], transports: ['websocket'] });
    const ready = await waitState(page, 'ws', 'live', 5000);
    const pub = [];
    for (let n = 1; n <= 3; n++) pub.push(await publish('user:sp', n));
    await waitCount(page, 'ws', 3, 5000);
    const rec = summary(await get(page, 'ws'));
    await ctx.close();
    return { ready, published: strip(pub), rec };
};

// (g) resume from a position history no longer covers: onGap, then the
// events history kept; a position ahead of the room: an epoch gap
scenarios.g = async () => {
    const pub = [];
    for (let i = 1; i <= 10; i++) pub.push(await publish('startup:g', i, '/notify3'));
    const epoch = pub[0][3];
    const ahead = [await publish('startup:g2', 1, '/notify3'),
        await publish('startup:g2', 2, '/notify3')];
    const ctx = await newContext('g');
    const kinds = ['websocket', 'eventsource', 'longpoll'];
    const page = await openPage(ctx, 'g');
    for (const k of kinds) {
        await start(page, k, { url: '/ws', params: { startup: 'g' }, transports: [k],
            positions: { 'startup:g': { seq: 2, epoch } } });
    }
    await start(page, 'ahead', { url: '/ws', params: { startup: 'g2' },
        positions: { 'startup:g2': { seq: 1000, epoch: ahead[0][3] } } });
    const recs = {};
    for (const k of kinds) {
        await waitCount(page, k, 3, 5000);
        recs[k] = summary(await get(page, k));
    }
    await waitCount(page, 'ahead', 2, 5000);
    await sleep(200);
    const recAhead = summary(await get(page, 'ahead'));
    await ctx.close();
    return { published: strip(pub), epoch, ahead: strip(ahead), recs, recAhead };
};

// (h) a proxy that buffers responses: the event stream opens and stays
// silent, so long-polling (whole answers) takes over
scenarios.h = async () => {
    const ctx = await newContext('h');
    const page = await openPage(ctx, 'h');
    await start(page, 'h', { url: '/buffered', params: { startup: 'h' },
        streamTimeout: 1500 });
    const polling = await waitState(page, 'h', 'polling', 8000, 'longpoll')
        && await warm([[page, 'h', ['startup:h']]]);
    const pub = await steady(['startup:h'], 10, 50);
    await waitCount(page, 'h', pub.length, 5000);
    await sleep(200);
    const rec = summary(await get(page, 'h'));
    await ctx.close();
    return { polling, published: strip(pub), rec };
};

// (r) a room the server refuses (signal_allow_subscribe): an error that
// names it, the other rooms go on; over WebSocket (an error message) and
// over long-polling (the poll's 403 names the room)
scenarios.r = async () => {
    const ctx = await newContext('r');
    const page = await openPage(ctx, 'r');
    const kinds = ['websocket', 'longpoll'];
    for (const k of kinds) {
        await start(page, k, { url: '/ws', params: { startup: 'r' },
            rooms: ['extra:r', 'nope:r'], transports: [k] });
    }
    const ready = [];
    for (const k of kinds) {
        ready.push(await waitState(page, k, k === 'websocket' ? 'live' : 'polling', 5000));
    }
    ready.push(await warm(kinds.map((k) => [page, k, ['startup:r', 'extra:r']])));
    const pub = await steady(['startup:r', 'extra:r', 'nope:r'], 6, 20);
    const recs = {};
    for (const k of kinds) await waitCount(page, k, 4, 5000);
    await sleep(200);
    for (const k of kinds) recs[k] = summary(await get(page, k));
    await ctx.close();
    return { ready, published: strip(pub), recs };
};

// (w) the SharedWorker script cannot load: a leader tab instead
scenarios.w = async () => {
    const ctx = await newContext('w');
    const page = await openPage(ctx, 'w');
    await start(page, 'w', { url: '/ws', params: { startup: 'w' },
        workerUrl: '/t/no-such-worker.js' });
    const live = await waitState(page, 'w', 'live', 8000);
    const pub = await steady(['startup:w'], 3, 20);
    await waitCount(page, 'w', 3, 5000);
    const rec = summary(await get(page, 'w'));
    await ctx.close();
    return { live, published: strip(pub), rec };
};

///////////////////////////////////////////////////////////////////////////////

async function run(name, deadline) {
    if (!scenarios[name]) {
        out(`ERROR ${name} unknown scenario`);
        return 1;
    }
    const t0 = Date.now();
    let timer;
    try {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no time left');
        const res = await Promise.race([scenarios[name](),
            new Promise((resolve, reject) => {
                timer = setTimeout(() => reject(new Error('scenario timed out')),
                    Math.min(left, 45000));
            })]);
        res.ms = Date.now() - t0;
        out(`RESULT ${name} ${JSON.stringify(res)}`);
        return 0;
    } catch (e) {
        out(`ERROR ${name} ${e.message.split('\n')[0]}`);
        log(`${name}: ${e.stack || e}`);
        return 1;
    } finally {
        clearTimeout(timer);
        for (const ctx of contexts.get(name) || []) await ctx.close().catch(() => {});
        contexts.delete(name);
    }
}

async function main() {
    const deadline = Date.now() + opt.timeout * 1000;
    const hung = setTimeout(() => {
        out('ERROR all timeout');
        process.exit(2);
    }, opt.timeout * 1000 + 5000);
    let exitCode = 0;
    try {
        browser = await chromium.launch({
            executablePath: CHROMIUM, headless: true, timeout: 15000,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync'],
        });
        out(`BROWSER ${browser.version()}`);
        // the scenarios of a group run at once (each has its rooms and
        // blocks only its own requests); d reloads nginx: alone, last
        const groups = opt.only ? opt.only.map((n) => [n])
            : [['a', 'b', 'c', 'e', 'e2', 'f', 'g', 'h', 'r', 's', 'w'], ['d']];
        for (const group of groups) {
            const st = await Promise.all(group.map((n) => run(n, deadline)));
            if (st.some((x) => x)) exitCode = 1;
        }
    } catch (e) {
        out(`ERROR all ${e.message.split('\n')[0]}`);
        log(e.stack || String(e));
        exitCode = 1;
    } finally {
        clearTimeout(hung);
        for (const f of fs.readdirSync(opt.dir)) {
            if (f.startsWith('block-')) fs.rmSync(path.join(opt.dir, f), { force: true });
        }
        if (browser) await browser.close().catch(() => {});
    }
    process.stdout.write('', () => process.exit(exitCode));
}

main();
