// The demo page of ngx_signal_module, served by `make run` at / (see
// conf/demo.conf): one startup's room followed through the browser client
// (clients/js/signal.js, served at /client/), the room's presence count,
// and a form that publishes through the notify location as a backend
// would. A plain ES module, no build step.
//
// The query may name the startup and the transports to use:
// /?startup=43&transports=eventsource,longpoll.
//
// Element ids (also what t/048-demo.t looks at): #startup (the startup
// id; a change reconnects), #transports (the transports the client may
// use, comma-separated, in order; a change reconnects), #badge (data-state: connecting, live,
// polling, offline), #transport (data-transport), #presence
// (data-connections), #publish (the form: #event-name, #event-data),
// #publish-result (data-status: the HTTP status, or "error"), #events
// (li.event with data-room, data-event and data-seq; li.gap; li.note).

const CLIENT_URL = '/client/signal.js';
const NOTIFY_URL = '/signal/notify';
const PRESENCE_URL = '/signal/presence';
const PRESENCE_EVERY_MS = 5000;
const MAX_ITEMS = 200;
const STARTUP_RE = /^[A-Za-z0-9_.@+=-]{1,64}$/;
const TRANSPORTS = ['websocket', 'eventsource', 'longpoll'];

const BADGE = {
    connecting: 'Connecting',
    live: 'Live',
    polling: 'Polling',
    offline: 'Offline',
};

const $ = (id) => document.getElementById(id);

let signal = null;          // the client module, once imported
let client = null;          // the connection of the current startup
let startup = null;
let transports = null;     // "websocket,eventsource,longpoll" or fewer
let presenceGen = 0;        // answers of older requests are dropped
let presenceSoon = null;

function room() {
    return `startup:${startup}`;
}

function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
}

function clock() {
    return new Date().toLocaleTimeString([], { hour12: false });
}

function showError(msg) {
    const e = $('client-error');
    e.textContent = msg || '';
    e.hidden = !msg;
}

// the badge and the transport

function showState(state, transport) {
    const badge = $('badge');
    badge.dataset.state = state || 'offline';
    badge.textContent = BADGE[state] || String(state);
    const t = $('transport');
    t.dataset.transport = transport || '';
    t.textContent = transport ? `over ${transport}` : 'no transport';
}

// the event list, newest first

function addItem(li) {
    const list = $('events');
    list.prepend(li);
    while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
    $('events-empty').hidden = true;
}

function json(value) {
    if (value === undefined) return 'null';
    try {
        return JSON.stringify(value);
    } catch (e) {
        return String(value);
    }
}

function addEvent(data, meta) {
    const m = meta || {};
    const li = el('li', 'event');
    li.dataset.room = m.room ?? '';
    li.dataset.event = m.event ?? '';
    li.dataset.seq = m.seq ?? '';

    const head = el('div', 'head');
    head.append(el('time', 'time', clock()), ' ',
        el('span', 'seq', `#${m.seq ?? '?'}`), ' ',
        el('strong', 'event-name', m.event ?? '(no name)'), ' in ',
        el('code', 'room', m.room ?? '?'));
    li.append(head, el('pre', 'data', json(data)));
    addItem(li);
}

function describeGap(gap) {
    const g = gap || {};
    switch (g.reason) {
    case 'history':
        return `events ${g.from ?? '?'} to ${g.to ?? '?'} are no longer`
            + ' in the history';
    case 'epoch':
        return `the room's numbering restarted (epoch ${g.epoch ?? '?'})`;
    case 'unavailable':
        return 'the server could not read the history';
    default:
        return json(g);
    }
}

function addGap(r, gap) {
    const li = el('li', 'gap');
    li.setAttribute('role', 'note');
    li.dataset.room = r ?? '';
    li.dataset.reason = (gap && gap.reason) || '';
    li.append(el('time', 'time', clock()), ' ',
        el('strong', null, 'Gap'), ` in ${r}: ${describeGap(gap)}.`
        + ' A real page would fetch the room\'s state again here.');
    addItem(li);
}

function addNote(text) {
    const li = el('li', 'note');
    li.append(el('time', 'time', clock()), ' ', text);
    addItem(li);
}

// presence: GET /signal/presence?room=... answers
// {"room":"startup:42","connections":3,"users":2}

async function refreshPresence() {
    const gen = ++presenceGen;
    const p = $('presence');
    try {
        const res = await fetch(`${PRESENCE_URL}?room=`
            + encodeURIComponent(room()), { cache: 'no-store' });
        const body = await res.json().catch(() => null);
        if (gen !== presenceGen) return;
        if (!res.ok || !body || typeof body.connections !== 'number') {
            throw new Error(`${res.status} ${body && body.error
                ? body.error : res.statusText}`);
        }
        p.textContent = String(body.connections);
        p.dataset.connections = String(body.connections);
        p.title = '';
        $('presence-label').textContent = body.connections === 1
            ? 'connection in the room' : 'connections in the room';
    } catch (e) {
        if (gen !== presenceGen) return;
        p.textContent = '?';
        p.dataset.connections = '';
        p.title = `presence: ${e.message}`;
    }
}

function presenceLater(ms) {
    clearTimeout(presenceSoon);
    presenceSoon = setTimeout(refreshPresence, ms);
}

// "eventsource, longpoll" → "eventsource,longpoll"; null when invalid
function parseTransports(text) {
    const list = String(text).split(',').map((t) => t.trim())
        .filter((t) => t !== '');
    if (list.length === 0 || list.some((t) => !TRANSPORTS.includes(t))
        || new Set(list).size !== list.length)
    {
        return null;
    }
    return list.join(',');
}

function selectTransports(value) {
    const select = $('transports');
    if (![...select.options].some((o) => o.value === value)) {
        select.add(new Option(value.replace(/,/g, ', '), value));
    }
    select.value = value;
}

// following a startup's room

function follow(id, through) {
    if (client) {
        try {
            client.close();
        } catch (e) {
            console.warn('close:', e);
        }
        client = null;
    }

    startup = id;
    transports = through;
    $('startup').value = id;
    selectTransports(through);
    for (const e of [$('room'), $('publish-room')]) e.textContent = room();
    $('presence').textContent = '?';
    $('presence').dataset.connections = '';
    showError('');
    addNote(`Following ${room()} (${through.replace(/,/g, ', ')})`);

    let c;
    try {
        c = signal.connect({
            url: '/ws',
            params: { startup: id },
            rooms: [],
            shared: true,
            transports: through.split(','),
        });
    } catch (e) {
        showState('offline', null);
        showError(`The client could not connect: ${e.message}`);
        return;
    }
    client = c;

    c.on('state', (state, transport) => {
        if (c !== client) return;
        showState(state, transport);
        if (state === 'live' || state === 'polling') {
            showError('');
            presenceLater(200);
        }
    });
    c.on('error', (e) => {
        if (c !== client) return;
        showError(`${e.code || 'error'}`
            + (e.status ? ` (HTTP ${e.status})` : '')
            + (e.message && e.message !== e.code ? `: ${e.message}` : ''));
    });
    c.on('*', (data, meta) => {
        if (c !== client) return;
        addEvent(data, meta);
        presenceLater(500);
    });
    c.on('gap', (r, gap) => {
        if (c === client) addGap(r, gap);
    });

    showState(c.state, c.transport);
    refreshPresence();
}

function settingsChanged(ev) {
    if (ev) ev.preventDefault();
    const input = $('startup');
    const id = input.value.trim();
    if (!STARTUP_RE.test(id)) {
        input.setAttribute('aria-invalid', 'true');
        input.reportValidity();
        return;
    }
    input.removeAttribute('aria-invalid');
    const through = parseTransports($('transports').value) || TRANSPORTS
        .join(',');
    if ((id === startup && through === transports) || !signal) return;
    const url = new URL(window.location.href);
    url.searchParams.set('startup', id);
    if (through === TRANSPORTS.join(',')) {
        url.searchParams.delete('transports');
    } else {
        url.searchParams.set('transports', through);
    }
    window.history.replaceState(null, '', url);
    follow(id, through);
}

// the publish form

function showResult(status, text) {
    const r = $('publish-result');
    r.dataset.status = String(status);
    r.className = status === 'error' || status >= 300 ? 'error' : 'ok';
    r.textContent = text;
}

async function publish(ev) {
    ev.preventDefault();
    const name = $('event-name').value.trim();
    const dataInput = $('event-data');
    const data = dataInput.value.trim();

    if (data !== '') {
        try {
            JSON.parse(data);
        } catch (e) {
            dataInput.setAttribute('aria-invalid', 'true');
            showResult('error', `The data is not valid JSON: ${e.message}`);
            dataInput.focus();
            return;
        }
    }
    dataInput.removeAttribute('aria-invalid');

    // the data goes as typed: clients receive it byte for byte
    const body = `{"room":${JSON.stringify(room())},`
        + `"event":${JSON.stringify(name)}`
        + (data === '' ? '' : `,"data":${data}`) + '}';

    const button = $('publish-submit');
    button.disabled = true;
    try {
        const res = await fetch(NOTIFY_URL, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body,
        });
        const text = await res.text();
        let answer = null;
        try {
            answer = JSON.parse(text);
        } catch (e) {
            // not JSON: shown as it is
        }

        let summary = `${res.status} ${res.statusText}`;
        if (answer && Array.isArray(answer.published)) {
            summary += ': published as '
                + answer.published.map((p) => `${p.room} #${p.seq}`)
                    .join(', ');
        } else if (answer && answer.error) {
            summary += `: ${answer.error}`
                + (answer.detail ? ` (${answer.detail})` : '');
        }
        showResult(res.status, `${summary}\n`
            + (answer ? JSON.stringify(answer) : text));
    } catch (e) {
        showResult('error', `The request failed: ${e.message}`);
    } finally {
        button.disabled = false;
    }
}

// start

async function main() {
    $('startup-form').addEventListener('submit', settingsChanged);
    $('startup').addEventListener('change', () => settingsChanged());
    $('transports').addEventListener('change', () => settingsChanged());
    $('publish').addEventListener('submit', publish);
    $('events-clear').addEventListener('click', () => {
        $('events').replaceChildren();
        $('events-empty').hidden = false;
    });

    const query = new URLSearchParams(window.location.search);
    const asked = query.get('startup');
    const first = asked !== null && STARTUP_RE.test(asked)
        ? asked : $('startup').value.trim();
    const through = parseTransports(query.get('transports') ?? '')
        || TRANSPORTS.join(',');

    try {
        signal = await import(CLIENT_URL);
    } catch (e) {
        showState('offline', null);
        showError(`Cannot load the client (${CLIENT_URL}): ${e.message}`);
        return;
    }

    follow(first, through);
    setInterval(refreshPresence, PRESENCE_EVERY_MS);
}

// for a console (and tests): the current client and startup
window.signalDemo = {
    get client() { return client; },
    get startup() { return startup; },
    get transports() { return transports; },
};

main();
