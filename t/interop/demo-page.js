#!/usr/bin/env node
'use strict';

// The demo page (clients/demo, served at / by conf/demo.conf) in Debian's
// /usr/bin/chromium, headless, driven by playwright-core with a fresh
// empty user-data-dir, the way a person uses it. Driven by
// t/048-demo.t, which publishes the backend's events when told READY.
// One line per step on stdout, a tag and JSON:
//
//   PAGE {"status":200,"type":"text/html"}
//   STATE {"state":"live","text":"Live","transport":"websocket",
//          "color":"rgb(...)"}      the badge once it says Live (or
//                                   Polling, below)
//   READY <startup>                 following startup:<startup>, live:
//                                   the test publishes now
//   READY <transport>               following startup:43 over
//                                   eventsource or longpoll, polling: the
//                                   test publishes now
//   EVENT {"room":..,"event":..,"seq":..,"data":..,"index":N}
//                                   an event shown in the list (index 0:
//                                   the top of the list)
//   PUBLISHED {"status":"202","text":".."}
//                                   what the page shows of its publish
//   REFUSED {"status":..,"text":..,"posts":N}
//                                   what it shows for data that is not
//                                   JSON (posts: notify requests sent)
//   TOO_LARGE {"status":..,"text":..}
//                                   and for notify's 413
//   PRESENCE {"text":"1","connections":"1"}
//   LIST [{"kind":"event","room":..,"event":..,"seq":..},...]
//                                   the whole list, top first
//   EXTERNAL <url>                  a request that left the page's origin
//   PAGEERROR <text>                an uncaught error in the page
//   DONE
//   ERROR <text>                    something failed
//
// The scenario: the page opens on startup 42 and gets Live; the backend's
// event "backend:hello" (published by the test) and one published through
// the page's form ("demo:form") show up; the presence count is at least
// 1; data that is not JSON is refused without a request; notify's 413 is
// shown; the startup id changes to 43 (Live again, READY 43): the
// backend's "backend:43" shows up, "backend:42" (published to startup:42
// just before it) does not; without WebSocket in the transports the
// badge says Polling, over eventsource ("backend:es" shows up), then over
// longpoll only ("backend:lp").
//
// Usage: demo-page.js --page http://127.0.0.1:P/ [--timeout SEC]
// Exit status: 0 when the scenario completed, 1 on error, 2 on timeout.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function usage(msg) {
    process.stderr.write(`demo-page.js: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const o = { timeout: 25 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
        case '--page': o.page = val(); break;
        case '--timeout': o.timeout = parseFloat(val()); break;
        default: usage(`unknown argument ${a}`);
        }
    }
    if (!o.page) usage('--page is required');
    return o;
}

const opt = parseArgs(process.argv.slice(2));
const deadline = Date.now() + opt.timeout * 1000;

function out(tag, value) {
    process.stdout.write(value === undefined ? `${tag}\n`
        : `${tag} ${typeof value === 'string' ? value
            : JSON.stringify(value)}\n`);
}

function left() {
    const ms = deadline - Date.now();
    if (ms <= 0) {
        const e = new Error('scenario timed out');
        e.name = 'TimeoutError';
        throw e;
    }
    return ms;
}

// the badge once it says state over transport, on startup:<startup>
async function badge(page, startup, state, transport) {
    await page.waitForFunction((w) => {
        const b = document.getElementById('badge');
        return b && b.dataset.state === w.state
            && document.getElementById('transport').dataset.transport
                === w.transport
            && document.getElementById('room').textContent
                === `startup:${w.startup}`;
    }, { startup, state, transport }, { timeout: left() });
    return page.evaluate(() => {
        const b = document.getElementById('badge');
        return { state: b.dataset.state, text: b.textContent.trim(),
            transport: document.getElementById('transport')
                .dataset.transport,
            color: getComputedStyle(b).backgroundColor };
    });
}

async function eventShown(page, name) {
    const li = page.locator(`#events li.event[data-event="${name}"]`)
        .first();
    await li.waitFor({ timeout: left() });
    return li.evaluate((e) => ({ room: e.dataset.room,
        event: e.dataset.event, seq: e.dataset.seq,
        data: e.querySelector('.data').textContent,
        index: [...e.parentNode.children].indexOf(e) }));
}

// fills the form, submits it, and waits for a new answer
async function publish(page, name, data) {
    await page.evaluate(() => {
        const r = document.getElementById('publish-result');
        r.textContent = '';
        r.dataset.status = '';
    });
    await page.fill('#event-name', name);
    if (data.length < 10000) {
        await page.fill('#event-data', data);
    } else {
        // typing a megabyte takes seconds
        await page.evaluate((d) => {
            document.getElementById('event-data').value = d;
        }, data);
    }
    await page.click('#publish-submit');
    await page.waitForFunction(() => document
        .getElementById('publish-result').dataset.status !== '',
    null, { timeout: left() });
    return page.evaluate(() => {
        const r = document.getElementById('publish-result');
        return { status: r.dataset.status, text: r.textContent };
    });
}

async function scenario(context, page, origin) {
    let posts = 0;
    // the context's requests: the page's and its workers'
    context.on('request', (r) => {
        const u = r.url();
        if (!u.startsWith(origin) && !u.startsWith('data:')) {
            out('EXTERNAL', u);
        }
        if (r.method() === 'POST' && u.endsWith('/signal/notify')) posts++;
    });

    const resp = await page.goto(opt.page, { timeout: left() });
    out('PAGE', { status: resp ? resp.status() : 0,
        type: resp ? resp.headers()['content-type'] : '' });

    out('STATE', await badge(page, '42', 'live', 'websocket'));
    out('READY', '42');
    out('EVENT', await eventShown(page, 'backend:hello'));

    out('PUBLISHED', await publish(page, 'demo:form',
        '{"n": 1, "s": "\u00fc"}'));
    out('EVENT', await eventShown(page, 'demo:form'));

    await page.waitForFunction(() => Number(document
        .getElementById('presence').dataset.connections) >= 1,
    null, { timeout: left() });
    out('PRESENCE', await page.evaluate(() => {
        const p = document.getElementById('presence');
        return { text: p.textContent, connections: p.dataset.connections };
    }));

    const before = posts;
    const refused = await publish(page, 'demo:bad', '{"n": ');
    out('REFUSED', { ...refused, posts: posts - before });

    const big = await publish(page, 'demo:big',
        JSON.stringify('x'.repeat(1100000)));
    out('TOO_LARGE', { status: big.status, text: big.text.slice(0, 200) });

    await page.fill('#startup', '43');
    await page.press('#startup', 'Enter');
    out('STATE', await badge(page, '43', 'live', 'websocket'));
    out('READY', '43');
    out('EVENT', await eventShown(page, 'backend:43'));

    for (const [transports, transport, name] of [
        ['eventsource,longpoll', 'eventsource', 'backend:es'],
        ['longpoll', 'longpoll', 'backend:lp']])
    {
        await page.selectOption('#transports', transports);
        out('STATE', await badge(page, '43', 'polling', transport));
        out('READY', transport);
        out('EVENT', await eventShown(page, name));
    }

    out('LIST', await page.evaluate(() => [...document
        .querySelectorAll('#events li')].map((e) => ({
        kind: e.className, room: e.dataset.room, event: e.dataset.event,
        seq: e.dataset.seq }))));
}

async function main() {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'signal-demo-'));
    let context;
    let status = 1;

    // the safety net for a browser that hangs; the test kills the process
    // group we leave
    const timer = setTimeout(() => {
        out('ERROR', `browser hung ${opt.timeout}s + 10s`);
        process.exit(2);
    }, opt.timeout * 1000 + 10000);

    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            timeout: left(),
            args: ['--headless', '--no-sandbox', '--disable-gpu',
                '--disable-quic', '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update', '--disable-sync'],
        });

        const page = context.pages()[0] || await context.newPage();
        page.on('console', (m) => process.stderr.write(
            `console.${m.type()}: ${m.text()}\n`));
        page.on('pageerror', (e) => out('PAGEERROR', String(e)));

        await scenario(context, page, new URL(opt.page).origin);
        out('DONE');
        status = 0;
    } catch (e) {
        out('ERROR', e.message.split('\n')[0]);
        process.stderr.write(`demo-page.js: ${e.stack || e}\n`);
        status = /Timeout/.test(e.name) ? 2 : 1;
    } finally {
        clearTimeout(timer);
        if (context) await context.close().catch(() => {});
        try {
            fs.rmSync(profile, { recursive: true, force: true,
                maxRetries: 10, retryDelay: 100 });
        } catch (e) {
            process.stderr.write(`demo-page.js: ${e.message}\n`);
        }
    }

    process.stdout.write('', () => process.exit(status));
}

main();
