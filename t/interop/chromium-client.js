#!/usr/bin/env node
'use strict';

// Interop client for ngx_signal_module: the WebSocket object of a real
// browser. Debian's /usr/bin/chromium runs headless, driven by
// playwright-core, with a fresh empty user-data-dir; the page is loaded
// from --page (served by the nginx under test, so that the WebSocket is
// same-origin) and runs the scenario itself. Driven by
// t/042-interop-chromium.t; same line protocol on stdout as ws-client.js:
//
//   SUBSCRIBED <json>       the "subscribed" reply (before READY)
//   READY                   subscribed, ready for events
//   {"type":"event",...}    one line per event received (re-serialized)
//   MSG <json>              any other server message
//   CLOSED code=N clean=0|1 ms=N reason=TEXT
//                           the browser's close event (wasClean, code)
//   ERROR <text>            something failed
//
// A browser has no API for WebSocket pings or fragments: it answers the
// server's pings by itself, which --url pointing to a location with a
// short signal_ping_interval exercises.
//
// Usage:
//   chromium-client.js --page http://127.0.0.1:P/page.html
//       --url ws://127.0.0.1:P/ws --room R [--count N] [--timeout SEC]
//       [--oversize BYTES] [--hold SEC]
//
// Exit status: 0 when the scenario completed, 1 on error, 2 on timeout.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LAUNCH_TIMEOUT = 30000;

function usage(msg) {
    process.stderr.write(`chromium-client.js: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const o = { count: 0, timeout: 20, oversize: 0, hold: 0 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
        case '--page': o.page = val(); break;
        case '--url': o.url = val(); break;
        case '--room': o.room = val(); break;
        case '--count': o.count = parseInt(val(), 10); break;
        case '--timeout': o.timeout = parseFloat(val()); break;
        case '--oversize': o.oversize = parseInt(val(), 10); break;
        case '--hold': o.hold = parseFloat(val()); break;
        default: usage(`unknown argument ${a}`);
        }
    }
    if (!o.page || !o.url || !o.room) {
        usage('--page, --url and --room are required');
    }
    return o;
}

const opt = parseArgs(process.argv.slice(2));

function out(line) {
    process.stdout.write(line + '\n');
}

// Runs inside the page: the whole scenario with the browser's WebSocket.
// Reports lines through window.report(); resolves to the exit status.
function pageScenario(o) {
    return new Promise((resolve) => {
        // reports reach node in order, and all before the result
        let chain = Promise.resolve();
        const report = (line) => {
            chain = chain.then(() => window.report(line));
        };
        let phase = 'connect';
        let events = 0;
        let closeStarted = 0;
        let done = false;
        const finish = (status, msg) => {
            if (done) return;
            done = true;
            if (msg) report(`ERROR ${msg}`);
            chain.then(() => resolve(status));
        };

        setTimeout(() => {
            report('TIMEOUT');
            report(`ERROR timeout (${events} events received, `
                + `phase ${phase})`);
            finish(2);
        }, o.timeoutMs);

        const ws = new WebSocket(o.url);

        const startClose = () => {
            phase = 'closing';
            closeStarted = performance.now();
            ws.close(1000, 'bye');
        };

        ws.onopen = () => {
            if (ws.protocol) report(`PROTOCOL ${ws.protocol}`);
            if (ws.extensions) report(`EXTENSIONS ${ws.extensions}`);
            phase = 'subscribe';
            ws.send(JSON.stringify({ type: 'subscribe', room: o.room,
                id: 'sub-1' }));
        };

        ws.onerror = () => report('ERROR error event');

        ws.onclose = (ev) => {
            const ms = closeStarted
                ? Math.round(performance.now() - closeStarted) : -1;
            report(`CLOSED code=${ev.code} clean=${ev.wasClean ? 1 : 0} `
                + `ms=${ms} reason=${ev.reason}`);
            if (phase === 'closing' || phase === 'oversize') {
                finish(0);
            } else {
                finish(1, `connection closed in phase ${phase}`);
            }
        };

        ws.onmessage = (ev) => {
            if (typeof ev.data !== 'string') {
                finish(1, 'binary message received');
                return;
            }
            let msg;
            try {
                msg = JSON.parse(ev.data);
            } catch (e) {
                finish(1, `invalid JSON from server: ${ev.data}`);
                return;
            }

            if (msg.type === 'subscribed' && phase === 'subscribe') {
                report(`SUBSCRIBED ${JSON.stringify(msg)}`);
                if (o.oversize > 0) {
                    const msg2 = JSON.stringify({ type: 'ping', id: 'big',
                        pad: 'x'.repeat(o.oversize) });
                    phase = 'oversize';
                    report(`OVERSIZE ${new TextEncoder()
                        .encode(msg2).length}`);
                    closeStarted = performance.now();
                    ws.send(msg2);
                    return;
                }
                phase = 'events';
                report('READY');
                if (o.count === 0) setTimeout(startClose, o.hold * 1000);
                return;
            }

            if (msg.type === 'event' && phase === 'events') {
                report(JSON.stringify(msg));
                events++;
                if (o.count > 0 && events >= o.count) startClose();
                return;
            }

            report(`MSG ${JSON.stringify(msg)}`);
        };
    });
}

async function main() {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(),
        'signal-chromium-'));
    let context;
    let status = 1;

    // Starting the browser and loading the page have their own budget:
    // on a loaded machine a launch takes seconds, which must not eat the
    // scenario's timeout (a scenario that expects nothing waits it out).
    const deadline = Date.now() + LAUNCH_TIMEOUT;

    // The page times out by itself (below); this is the safety net for a
    // browser that hangs. The test kills the process group we leave.
    const timer = setTimeout(() => {
        out('TIMEOUT');
        process.stderr.write(`chromium-client.js: browser hung `
            + `${opt.timeout}s + launch + 10s\n`);
        process.exit(2);
    }, opt.timeout * 1000 + LAUNCH_TIMEOUT + 10000);

    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: CHROMIUM,
            headless: true,
            timeout: Math.max(deadline - Date.now(), 1),
            args: ['--headless', '--no-sandbox', '--disable-gpu',
                '--disable-quic', '--no-first-run',
                '--disable-background-networking',
                '--disable-component-update', '--disable-sync'],
        });

        const page = context.pages()[0] || await context.newPage();
        page.on('console', (m) => process.stderr.write(
            `console.${m.type()}: ${m.text()}\n`));
        page.on('pageerror', (e) => process.stderr.write(
            `pageerror: ${e}\n`));
        await page.exposeFunction('report', (line) => out(line));

        const resp = await page.goto(opt.page,
            { timeout: Math.max(deadline - Date.now(), 1) });
        if (!resp || !resp.ok()) {
            throw new Error(`page ${opt.page}: `
                + `${resp ? resp.status() : 'no response'}`);
        }
        out(`BROWSER ${await page.evaluate(() => navigator.userAgent)}`);

        status = await page.evaluate(pageScenario, {
            url: opt.url, room: opt.room, count: opt.count,
            oversize: opt.oversize, hold: opt.hold,
            timeoutMs: opt.timeout * 1000 });
    } catch (e) {
        out(`ERROR ${e.message.split('\n')[0]}`);
        process.stderr.write(`chromium-client.js: ${e.stack || e}\n`);
        status = /Timeout/.test(e.name) ? 2 : 1;
    } finally {
        clearTimeout(timer);
        if (context) await context.close().catch(() => {});
        try {
            // chromium may still be writing there right after close()
            fs.rmSync(profile, { recursive: true, force: true,
                maxRetries: 10, retryDelay: 100 });
        } catch (e) {
            process.stderr.write(`chromium-client.js: ${e.message}\n`);
        }
    }

    process.stdout.write('', () => process.exit(status));
}

main();
