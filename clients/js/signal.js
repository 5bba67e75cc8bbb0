// Browser client of ngx_signal_module: one real-time connection per
// browser (shared by the tabs of an origin), over WebSocket, Server-Sent
// Events or long-polling, with resume from positions, token refresh,
// reconnect with backoff and a state a page binds to its Live/Polling
// badge. Plain ES module, no dependencies, no build step.
//
//   import { connect } from './signal.js';
//   const client = connect({ url: '/ws', getToken, rooms: ['bulk_upload:7'] });
//   client.on('signal:assigned', (data, meta) => ...);
//
// The protocol is docs/protocol.md of the module; the API is README.md
// next to this file. signal-worker.js (the SharedWorker) imports this
// module: nothing here touches the DOM at load time.

const ALL_TRANSPORTS = ['websocket', 'eventsource', 'longpoll'];

// names of client events; a server event with one of these names reaches
// '*' handlers only
const RESERVED = new Set(['state', 'gap', 'error', '*']);

const DEFAULTS = {
    backoffBase: 500,        // ms: first reconnect delay cap (full jitter)
    backoffMax: 30000,       // ms: largest reconnect delay
    healthyAfter: 10000,     // ms a connection stays up before the backoff resets
    upgradeInterval: 20000,  // ms between WebSocket probes while on a fallback
    openTimeout: 10000,      // ms for a WebSocket or an event stream to open
    streamTimeout: 5000,     // ms for an open event stream to deliver its first message
    readyTimeout: 5000,      // ms for an upgrade probe to get its rooms' positions
    pollTimeout: 90000,      // ms a poll may be held before it is given up
    pingInterval: 25000,     // ms of WebSocket silence before the client pings
    pongTimeout: 10000,      // ms more without anything before the socket is dead
    offlineAfter: 3,         // failed rounds (every transport) before 'offline'
    tokenParam: 'token',     // query argument of the token (signal_jwt_token query=...)
    withCredentials: false,  // cookies on cross-origin event streams and polls
};

const TIMING_KEYS = Object.keys(DEFAULTS);

const POS_LIMIT = 4096;      // positions kept for dedupe (rooms of families too)

const now = () => Date.now();
const rand = (a, b) => a + Math.random() * (b - a);
const enc = encodeURIComponent;

function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isFamily(room) {
    return typeof room === 'string' && room.endsWith(':*');
}

function roomMatches(pattern, room) {
    return pattern === room
        || (isFamily(pattern) && room.startsWith(pattern.slice(0, -1)));
}

function validRoom(room) {
    return typeof room === 'string' && room.length > 0 && room.length <= 1024
        && !/[,\s]/.test(room);
}

// a position the server gave: seq a safe integer, epoch its 16 hex digits
function isPos(p) {
    return isObject(p) && Number.isSafeInteger(p.seq) && p.seq >= 0
        && typeof p.epoch === 'string' && /^[0-9a-fA-F]{1,16}$/.test(p.epoch)
        && /[^0]/.test(p.epoch);
}

function parseJSON(text) {
    try {
        return JSON.parse(text);
    } catch (e) {
        return undefined;
    }
}

function report(err) {
    // an application handler threw: surface it as an uncaught error
    // without stopping the others
    if (typeof reportError === 'function') {
        reportError(err);
    } else {
        setTimeout(() => { throw err; });
    }
}

function randomId() {
    if (globalThis.crypto && typeof crypto.randomUUID === 'function') {
        return crypto.randomUUID();
    }
    return Math.random().toString(36).slice(2) + now().toString(36);
}

// The claims of a JWT (not verified: only exp and iat are read), or null.
export function decodeToken(token) {
    if (typeof token !== 'string') return null;
    const part = token.split('.')[1];
    if (!part) return null;
    try {
        let b64 = part.replace(/-/g, '+').replace(/_/g, '/');
        while (b64.length % 4) b64 += '=';
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const claims = JSON.parse(new TextDecoder().decode(bytes));
        return isObject(claims) ? claims : null;
    } catch (e) {
        return null;
    }
}

// When to refresh a token: at 75% of its life or 30 s before exp,
// whichever comes first, but not before half of its life (a short-lived
// token would otherwise be refreshed at once, again and again). The life
// is exp - iat when the token has an iat (no clock skew involved),
// counted from now less what the local clock says is already gone.
function refreshDelay(claims) {
    if (!claims || typeof claims.exp !== 'number') return null;
    const t = now();
    let remaining = claims.exp * 1000 - t;
    let life = remaining;
    if (typeof claims.iat === 'number' && claims.exp > claims.iat) {
        life = (claims.exp - claims.iat) * 1000;
        // a clock that disagrees with the issuer's: take the token as new
        if (remaining > life || remaining <= 0) remaining = life;
    }
    if (life <= 0) return null;
    let d = Math.max(Math.min(0.75 * life, life - 30000), 0.5 * life);
    d -= life - remaining;
    return Math.max(d, 1000);
}

function httpBase(url) {
    const u = new URL(url);
    if (u.protocol === 'ws:') u.protocol = 'http:';
    else if (u.protocol === 'wss:') u.protocol = 'https:';
    u.hash = '';
    return u.href;
}

// options → the part of the configuration the shared connection needs
// (plain data: it crosses to a worker or another tab)
function buildConfig(opts, baseHref) {
    if (!opts || typeof opts.url !== 'string' || !opts.url) {
        throw new TypeError('connect(): options.url is required');
    }
    const url = httpBase(new URL(opts.url, baseHref).href);
    const params = [];
    if (isObject(opts.params)) {
        for (const k of Object.keys(opts.params).sort()) {
            const v = opts.params[k];
            if (v !== undefined && v !== null) params.push([k, String(v)]);
        }
    }
    let transports = Array.isArray(opts.transports)
        ? opts.transports.filter((t, i, a) => ALL_TRANSPORTS.includes(t)
            && a.indexOf(t) === i)
        : ALL_TRANSPORTS.slice();
    if (transports.length === 0) transports = ALL_TRANSPORTS.slice();
    // WebSocket subprotocols (signal_subprotocols); with them the token
    // goes as "bearer.<token>" among them (signal_jwt_token subprotocol),
    // not in the WebSocket's URL
    const protocols = Array.isArray(opts.protocols)
        ? opts.protocols.filter((s) => typeof s === 'string'
            && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s))
        : [];
    const cfg = { url, params, transports, protocols };
    for (const k of TIMING_KEYS) {
        const v = opts[k];
        if (typeof v === typeof DEFAULTS[k] && (typeof v !== 'number'
            || (Number.isFinite(v) && v >= 0)))
        {
            cfg[k] = v;
        }
    }
    return cfg;
}

function keyOf(cfg) {
    return cfg.url + '#' + cfg.params.map(([k, v]) => enc(k) + '=' + enc(v))
        .join('&') + '#' + cfg.transports.join(',') + '#'
        + cfg.protocols.join(',');
}

export class SignalError extends Error {
    constructor(e) {
        super((e && e.message) || (e && e.code) || 'signal error');
        this.name = 'SignalError';
        this.code = (e && e.code) || 'error';
        for (const k of ['room', 'status', 'transport', 'closeCode']) {
            if (e && e[k] !== undefined) this[k] = e[k];
        }
    }
}

///////////////////////////////////////////////////////////////////////////////
// transports: start(), close(), restart(), roomChanged(), tokenChanged();
// they report to the core: _opened(t), _message(t, msg), _down(t, info)

class WsTransport {
    constructor(core) {
        this.core = core;
        this.name = 'websocket';
        this.opened = false;
        this.closed = false;
        this.acked = new Set();     // rooms with their 'subscribed' (or refusal)
        this.sent = new Set();      // rooms this socket subscribed
        this.ids = new Map();       // subscribe id → room
        this.nextId = 1;
    }

    start() {
        const o = this.core.o;
        let ws;
        try {
            const c = this.core;
            const protocols = c.protocols.length
                ? c.protocols.concat(c.token ? ['bearer.' + c.token] : [])
                : undefined;
            ws = new WebSocket(c._url('websocket'), protocols);
        } catch (e) {
            queueMicrotask(() => this._down({ reason: String(e && e.message) }));
            return;
        }
        this.ws = ws;
        this.openTimer = setTimeout(() => this._down({ reason: 'open timeout' }),
            o.openTimeout);
        ws.onopen = () => {
            clearTimeout(this.openTimer);
            this.opened = true;
            this.lastIn = now();
            for (const room of this.core._wanted()) this._subscribe(room);
            const iv = o.pingInterval;
            if (iv > 0) {
                this.pinger = setInterval(() => this._ping(),
                    Math.max(500, Math.min(iv / 2, 5000)));
            }
            this.core._opened(this);
        };
        ws.onmessage = (ev) => {
            this.lastIn = now();
            if (typeof ev.data !== 'string') return;
            const m = parseJSON(ev.data);
            if (isObject(m)) this.core._message(this, m);
        };
        ws.onerror = () => {};
        ws.onclose = (ev) => this._down({ code: ev.code, reason: ev.reason });
    }

    _ping() {
        const o = this.core.o;
        const idle = now() - this.lastIn;
        if (idle > o.pingInterval + o.pongTimeout) {
            this._down({ code: 4000, reason: 'no answer to pings' });
        } else if (idle >= o.pingInterval) {
            this.send({ type: 'ping' });
        }
    }

    send(obj) {
        if (this.ws && this.ws.readyState === 1) {
            try {
                this.ws.send(JSON.stringify(obj));
            } catch (e) { /* closing */ }
        }
    }

    _subscribe(room) {
        const id = this.nextId++;
        this.ids.set(id, room);
        this.sent.add(room);
        this.acked.delete(room);
        const m = { type: 'subscribe', room, id };
        const p = isFamily(room) ? null : this.core.pos.get(room);
        if (isPos(p)) {
            m.seq = p.seq;
            m.epoch = p.epoch;
        }
        this.send(m);
    }

    roomChanged(room, added) {
        if (!this.opened) return;    // the rooms are subscribed at open
        if (added) {
            this._subscribe(room);
        } else {
            this.sent.delete(room);
            this.acked.delete(room);
            this.send({ type: 'unsubscribe', room });
        }
    }

    roomOf(id) {
        return this.ids.get(id);
    }

    tokenChanged(token) {
        if (token) {
            this.refreshId = 'refresh-' + this.nextId++;
            this.send({ type: 'refresh', token, id: this.refreshId });
        }
    }

    restart() {
        // a WebSocket changes its rooms with messages
    }

    _cleanup() {
        this.closed = true;
        clearTimeout(this.openTimer);
        clearInterval(this.pinger);
        if (this.ws) {
            this.ws.onopen = this.ws.onmessage = this.ws.onclose = null;
            this.ws.onerror = null;
        }
    }

    _down(info) {
        if (this.closed) return;
        this._cleanup();
        try {
            if (this.ws) this.ws.close();
        } catch (e) { /* already closed */ }
        info.opened = this.opened;
        this.core._down(this, info);
    }

    close() {
        if (this.closed) return;
        this._cleanup();
        try {
            if (this.ws) this.ws.close(1000);
        } catch (e) { /* already closed */ }
    }
}

class SseTransport {
    constructor(core) {
        this.core = core;
        this.name = 'eventsource';
        this.opened = false;
        this.closed = false;
        this.acked = new Set();
        this.sent = new Set();
    }

    start() {
        const o = this.core.o;
        const rooms = this.core._wanted();
        this.sent = new Set(rooms);
        this.acked = new Set();
        this.got = false;
        let es;
        try {
            es = new EventSource(this.core._url('eventsource', rooms),
                { withCredentials: !!o.withCredentials });
        } catch (e) {
            queueMicrotask(() => this._down({ reason: String(e && e.message) }));
            return;
        }
        this.es = es;
        // a proxy that holds the whole answer holds the head too
        this.timer = setTimeout(() => this._down({ reason: 'open timeout',
            silent: true }), o.openTimeout);
        es.onopen = () => {
            clearTimeout(this.timer);
            // a stream that stays silent is held by a buffering proxy
            this.timer = setTimeout(() => this._down({ reason: 'silent stream',
                silent: true }), o.streamTimeout);
        };
        es.onmessage = (ev) => {
            if (!this.got) {
                this.got = true;
                clearTimeout(this.timer);
                if (!this.opened) {
                    this.opened = true;
                    this.core._opened(this);
                    if (this.closed) return;
                }
            }
            const m = parseJSON(ev.data);
            if (!isObject(m)) return;
            if (m.type === 'close') {
                this._down({ code: m.code, reason: m.reason });
                return;
            }
            this.core._message(this, m);
        };
        // the browser would reconnect by itself with one room's
        // Last-Event-ID: the core reconnects with every position instead
        es.onerror = () => this._down({ reason: 'stream error' });
    }

    _stop() {
        clearTimeout(this.timer);
        if (this.es) {
            this.es.onopen = this.es.onmessage = this.es.onerror = null;
            try {
                this.es.close();
            } catch (e) { /* closed */ }
            this.es = null;
        }
    }

    // the same transport, a new stream: other rooms or a new token
    restart() {
        if (this.closed) return;
        this._stop();
        this.start();
    }

    roomChanged() {
        this.core._restartSoon();
    }

    tokenChanged() {
        this.restart();
    }

    _down(info) {
        if (this.closed) return;
        this.closed = true;
        this._stop();
        info.opened = this.opened;
        this.core._down(this, info);
    }

    close() {
        this.closed = true;
        this._stop();
    }
}

class PollTransport {
    constructor(core) {
        this.core = core;
        this.name = 'longpoll';
        this.opened = false;
        this.closed = false;
        this.acked = new Set();
        this.sent = new Set();
    }

    start() {
        this._loop();
    }

    _open() {
        if (!this.opened && !this.closed) {
            this.opened = true;
            this.core._opened(this);
        }
    }

    async _loop() {
        const o = this.core.o;
        let quick = 0;
        while (!this.closed) {
            const rooms = this.core._wanted();
            this.sent = new Set(rooms);
            this.acked = new Set();
            const ac = new AbortController();
            this.ac = ac;
            this.restarting = false;
            const held = setTimeout(() => ac.abort(), o.pollTimeout);
            // a poll the server holds was accepted: the transport works
            const openTimer = this.opened ? null
                : setTimeout(() => this._open(), 1000);
            const t0 = now();
            let resp, text;
            try {
                resp = await fetch(this.core._url('longpoll', rooms), {
                    cache: 'no-store', signal: ac.signal,
                    credentials: o.withCredentials ? 'include' : 'same-origin',
                    headers: { Accept: 'application/json' },
                });
                text = await resp.text();
            } catch (e) {
                clearTimeout(held);
                clearTimeout(openTimer);
                if (this.closed) return;
                if (this.restarting) continue;
                this._down({ reason: 'network error' });
                return;
            }
            clearTimeout(held);
            clearTimeout(openTimer);
            if (this.closed) return;
            const body = parseJSON(text);
            if (!resp.ok) {
                const err = {
                    status: resp.status,
                    code: isObject(body) && typeof body.error === 'string'
                        ? body.error : 'http_' + resp.status,
                    message: isObject(body) && typeof body.detail === 'string'
                        ? body.detail : resp.statusText,
                };
                if (this.core._refusedRoom(this, err)) continue;
                this._down(err);
                return;
            }
            if (!isObject(body) || !Array.isArray(body.messages)) {
                this._down({ reason: 'not a poll answer' });
                return;
            }
            this._open();
            if (this.closed) return;
            let close = null;
            let events = 0;
            for (const m of body.messages) {
                if (!isObject(m)) continue;
                if (m.type === 'close') {
                    close = m;
                    continue;
                }
                if (m.type === 'event') events++;
                this.core._message(this, m);
                if (this.closed) return;
            }
            if (close && close.code === 4001) {
                try {
                    await this.core._fetchToken();
                } catch (e) {
                    this._down({ code: 4001, reason: 'token' });
                    return;
                }
                if (this.closed) return;
            }
            // never spin: answers that come back at once with nothing
            quick = (now() - t0 < 200 && events === 0) ? quick + 1 : 0;
            if (quick >= 5) {
                await new Promise((r) => setTimeout(r, rand(500, 1500)));
            }
        }
    }

    // the next poll at once, with the rooms and token of now
    restart() {
        if (!this.closed && this.ac) {
            this.restarting = true;
            this.ac.abort();
        }
    }

    roomChanged() {
        this.core._restartSoon();
    }

    tokenChanged() {
        // a held poll carries the old token: the next one at once
        this.restart();
    }

    _down(info) {
        if (this.closed) return;
        this.closed = true;
        if (this.ac) this.ac.abort();
        info.opened = this.opened;
        this.core._down(this, info);
    }

    close() {
        this.closed = true;
        if (this.ac) this.ac.abort();
    }
}

const TRANSPORT_CLASSES = {
    websocket: WsTransport, eventsource: SseTransport, longpoll: PollTransport,
};

///////////////////////////////////////////////////////////////////////////////
// the core: one server connection, its fallback and upgrade, rooms
// (reference-counted), positions, dedupe, token, backoff and state.
// host: { getToken(), canRefresh(), onEvent(msg), onGap(room, gap),
//         onState(state, transport), onError(err), onPositions() }

class Core {
    constructor(cfg, host) {
        this.o = { ...DEFAULTS };
        for (const k of TIMING_KEYS) if (cfg[k] !== undefined) this.o[k] = cfg[k];
        this.base = cfg.url;
        this.params = cfg.params || [];
        this.transports = cfg.transports || ALL_TRANSPORTS.slice();
        this.protocols = cfg.protocols || [];
        this.host = host;

        this.rooms = new Map();         // option rooms → reference count
        this.refused = new Set();       // option rooms the server refused
        this.serverRooms = new Set();   // rooms joined at the handshake
        this.kept = new Set();          // rooms whose positions are kept
        this.pos = new Map();           // room → { seq, epoch }
        this.lastGap = new Map();       // room → key of the last epoch gap
        this.leaving = new Map();       // rooms left, not confirmed → since

        this.state = 'connecting';
        this.transport = null;
        this.attempt = null;            // opening, not yet used
        this.active = null;             // the transport in use
        this.probe = null;              // an upgrade (or replacement) on trial
        this.failures = 0;
        this.online = true;
        this.started = false;
        this.closed = false;
        this.gen = 0;
        this.skip = {};                 // transport → not tried again before

        this.token = null;
        this.claims = null;
        this.tokenStale = true;
        this.refreshDue = 0;
        this.fetching = null;
        this.timers = {};
    }

    _timer(name, fn, ms) {
        clearTimeout(this.timers[name]);
        this.timers[name] = ms === null ? undefined : setTimeout(() => {
            this.timers[name] = undefined;
            fn();
        }, ms);
    }

    _clear(name) {
        clearTimeout(this.timers[name]);
        this.timers[name] = undefined;
    }

    // rooms ----------------------------------------------------------------

    _wanted() {
        const out = [];
        for (const room of this.rooms.keys()) {
            if (!this.refused.has(room)) out.push(room);
        }
        return out;
    }

    _transports() {
        return [this.attempt, this.active, this.probe].filter(Boolean);
    }

    addRoom(room, position) {
        if (!validRoom(room)) return;
        const n = this.rooms.get(room) || 0;
        this.rooms.set(room, n + 1);
        if (n) return;
        this.leaving.delete(room);
        this.refused.delete(room);
        if (!isFamily(room)) {
            this.kept.add(room);
            if (isPos(position) && !this.pos.has(room)) {
                this.pos.set(room, { seq: position.seq, epoch: position.epoch });
            }
        }
        for (const t of this._transports()) t.roomChanged(room, true);
    }

    removeRoom(room) {
        const n = this.rooms.get(room);
        if (!n) return;
        if (n > 1) {
            this.rooms.set(room, n - 1);
            return;
        }
        this.rooms.delete(room);
        this.leaving.set(room, now());
        const refused = this.refused.delete(room);
        if (!this.serverRooms.has(room)) {
            this.kept.delete(room);
            this.pos.delete(room);
        }
        if (!refused) {
            for (const t of this._transports()) t.roomChanged(room, false);
        }
        this.host.onPositions();
    }

    _restartSoon() {
        // several subscribe() calls in a row: one new stream or poll
        this._timer('rooms', () => {
            for (const t of this._transports()) {
                if (t.name !== 'websocket' && !t.closed) t.restart();
            }
        }, 20);
    }

    // positions given by the application (or other tabs): unknown rooms
    // only once connected; before, the oldest of a room's positions wins
    seed(positions) {
        if (!isObject(positions)) return;
        for (const room of Object.keys(positions)) {
            const p = positions[room];
            if (!validRoom(room) || isFamily(room) || !isPos(p)) continue;
            const k = this.pos.get(room);
            if (!k || (!this.started && k.epoch === p.epoch && p.seq < k.seq)) {
                this.pos.set(room, { seq: p.seq, epoch: p.epoch });
            }
            this.kept.add(room);
        }
    }

    positions() {
        const out = {};
        for (const [room, p] of this.pos) {
            if (this.kept.has(room)) out[room] = { seq: p.seq, epoch: p.epoch };
        }
        return out;
    }

    _setPos(room, seq, epoch) {
        this.pos.delete(room);   // newest last: the oldest go first below
        this.pos.set(room, { seq, epoch });
        if (this.pos.size > POS_LIMIT) {
            for (const r of this.pos.keys()) {
                if (this.pos.size <= POS_LIMIT * 3 / 4) break;
                if (!this.kept.has(r)) this.pos.delete(r);
            }
        }
    }

    // an event of a room left a moment ago, still on its way (the
    // connection was not out of it yet), that no other room wants
    _left(room) {
        if (this.leaving.size === 0) return false;
        let hit = false;
        for (const [r, since] of this.leaving) {
            if (now() - since > 10000) this.leaving.delete(r);
            else if (roomMatches(r, room)) hit = true;
        }
        if (!hit) return false;
        for (const r of this.rooms.keys()) if (roomMatches(r, room)) return false;
        for (const r of this.serverRooms) if (roomMatches(r, room)) return false;
        return true;
    }

    // an event once: false when its position is not past the room's
    _accept(room, seq, epoch) {
        if (!Number.isSafeInteger(seq) || typeof epoch !== 'string') return true;
        const k = this.pos.get(room);
        if (k && k.epoch === epoch && seq <= k.seq) return false;
        this._setPos(room, seq, epoch);
        return true;
    }

    _url(kind, rooms) {
        const u = new URL(this.base);
        if (kind === 'websocket') {
            u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
        }
        const q = [];
        if (u.search.length > 1) q.push(u.search.slice(1));
        if (kind !== 'websocket') q.push('transport=' + kind);
        for (const [k, v] of this.params) q.push(enc(k) + '=' + enc(v));
        if (this.token && !(kind === 'websocket' && this.protocols.length)) {
            q.push(enc(this.o.tokenParam) + '=' + enc(this.token));
        }
        if (rooms && rooms.length) q.push('rooms=' + enc(rooms.join(',')));
        // WebSocket: the rooms of the handshake (option rooms resume in
        // their subscribe message); streams and polls: every room they join
        const resume = [];
        for (const [room, p] of this.pos) {
            if (!this.kept.has(room)) continue;
            if (kind === 'websocket' ? this.rooms.has(room) : this.refused.has(room)) {
                continue;
            }
            resume.push(room + ':' + p.seq + ':' + p.epoch);
        }
        q.push('resume=' + enc(resume.join(',')));
        u.search = '?' + q.join('&');
        return u.href;
    }

    // token ----------------------------------------------------------------

    _fetchToken() {
        if (!this.fetching) {
            this.fetching = (async () => {
                try {
                    const tok = await this.host.getToken();
                    this._setToken(tok);
                } finally {
                    this.fetching = null;
                }
            })();
        }
        return this.fetching;
    }

    _setToken(tok) {
        const old = this.token;
        this.token = typeof tok === 'string' && tok ? tok : null;
        this.tokenStale = false;
        this.claims = decodeToken(this.token);
        this._clear('refresh');
        this.refreshDue = 0;
        if (!this.token || !this.host.canRefresh()) return;
        let d = refreshDelay(this.claims);
        if (d === null) return;
        if (this.token === old) d = Math.max(d, 5000);
        this.refreshDue = now() + d;
        this._timer('refresh', () => this._refresh(), d);
    }

    async _ensureToken() {
        if (!this.tokenStale && !(this.refreshDue && now() >= this.refreshDue)) {
            return;
        }
        await this._fetchToken();
    }

    async _refresh() {
        if (this.closed) return;
        const old = this.token;
        try {
            await this._fetchToken();
        } catch (e) {
            this._error({ code: 'token_failed',
                message: String((e && e.message) || e) });
            this._timer('refresh', () => this._refresh(), 5000);
            return;
        }
        if (this.closed || this.token === old) return;
        for (const t of [this.active, this.probe]) {
            if (t && t.opened && !t.closed) t.tokenChanged(this.token);
        }
    }

    // connection -----------------------------------------------------------

    start() {
        if (this.started || this.closed) return;
        this.started = true;
        this._updateState();
        if (this.online) this._attemptFrom(0);
    }

    _skipped(name) {
        return (this.skip[name] || 0) > now();
    }

    async _attemptFrom(idx) {
        this._clear('reconnect');
        if (this.closed || !this.online || this.active || this.attempt) return;
        while (idx < this.transports.length && this._skipped(this.transports[idx])) {
            idx++;
        }
        if (idx >= this.transports.length) {
            if (Object.keys(this.skip).length) {
                this.skip = {};
            }
            this._roundFailed({});
            return;
        }
        const gen = ++this.gen;
        try {
            await this._ensureToken();
        } catch (e) {
            if (gen !== this.gen) return;
            this._roundFailed({ code: 'token_failed',
                message: 'getToken() failed: ' + String((e && e.message) || e) });
            return;
        }
        if (gen !== this.gen || this.closed || !this.online || this.active
            || this.attempt)
        {
            return;
        }
        const t = new TRANSPORT_CLASSES[this.transports[idx]](this);
        t.idx = idx;
        this.attempt = t;
        t.start();
    }

    _roundFailed(info) {
        this.failures++;
        const e = { code: info.code && typeof info.code === 'string'
            ? info.code : 'unreachable',
            message: info.message || 'no transport could connect' };
        if (info.status) e.status = info.status;
        this._error(e);
        this._updateState();
        this._timer('reconnect', () => this._attemptFrom(0), this._backoff());
    }

    _backoff() {
        const cap = Math.min(this.o.backoffMax,
            this.o.backoffBase * 2 ** Math.min(this.failures, 20));
        return Math.random() * cap;
    }

    // open: in use once its rooms are subscribed (at once for a stream or
    // a poll, which join them with the request), or after readyTimeout
    _opened(t) {
        if (t !== this.attempt && t !== this.probe) return;
        this._timer('ready', () => this._adopt(t), this.o.readyTimeout);
        if (this._ready(t)) this._adopt(t);
    }

    _adopt(t) {
        this._clear('ready');
        if (t === this.attempt) {
            this.attempt = null;
            this._use(t);
        } else if (t === this.probe) {
            this._promote(t);
        }
    }

    _use(t) {
        this.active = t;
        this.healthy = false;
        this._timer('healthy', () => {
            this.healthy = true;
            this.failures = 0;
        }, this.o.healthyAfter);
        this._updateState();
        this._scheduleProbe();
    }

    _ready(t) {
        if (t.name !== 'websocket') return true;
        for (const room of this._wanted()) if (!t.acked.has(room)) return false;
        for (const room of this.serverRooms) if (!t.acked.has(room)) return false;
        return true;
    }

    _promote(p) {
        this._clear('ready');
        this.probe = null;
        const old = this.active;
        if (old) old.close();
        this._use(p);
    }

    _scheduleProbe() {
        this._clear('probe');
        const a = this.active;
        if (!a || this.closed || this.probe || a.idx === 0) return;
        this._timer('probe', () => this._startProbe(0),
            this.o.upgradeInterval * rand(0.8, 1.2));
    }

    // try a better transport (idx) next to the active one; force: the
    // same transport again (a WebSocket refused a refresh)
    _startProbe(idx, force) {
        this._clear('probe');
        const a = this.active;
        if (!a || this.closed || this.probe) return;
        while (idx < a.idx && this._skipped(this.transports[idx])) idx++;
        if (idx >= a.idx && !force) {
            this._scheduleProbe();
            return;
        }
        const t = new TRANSPORT_CLASSES[this.transports[idx]](this);
        t.idx = idx;
        t.role = 'probe';
        this.probe = t;
        t.start();
    }

    _down(t, info) {
        if (info.status === 401 || info.code === 4001) this.tokenStale = true;
        if (info.silent && t.name === 'eventsource') {
            this.skip.eventsource = now() + 300000;
        }
        if (t === this.attempt) {
            // could not open (or closed before its rooms were): the next
            // transport
            this._clear('ready');
            this.attempt = null;
            const next = t.idx + 1;
            if (next < this.transports.length && info.status !== 401) {
                this._attemptFrom(next);
            } else {
                this._roundFailed(info);
            }
            return;
        }
        if (t === this.probe) {
            this._clear('ready');
            this.probe = null;
            if (this.active && t.idx + 1 < this.active.idx) {
                this._startProbe(t.idx + 1);
            } else {
                this._scheduleProbe();
            }
            return;
        }
        if (t !== this.active) return;

        this.active = null;
        this._clear('healthy');
        this._clear('probe');
        const restart = info.code === 1012 || info.code === 1001;
        if (!this.healthy && !restart) this.failures++;
        const p = this.probe;
        if (p && p.opened && !p.closed) {
            this._promote(p);
            return;
        }
        if (p) {
            this.probe = null;
            p.close();
        }
        this._clear('ready');
        if (info.status) {
            this._error({ code: info.code, status: info.status,
                message: info.message, transport: t.name });
        }
        let delay;
        if (restart) {
            delay = rand(100, 1000);        // reload, quit: spread the herd
        } else if (info.code === 4001) {
            delay = this.healthy ? rand(0, 250) : this._backoff();
        } else {
            delay = this._backoff();
        }
        this._updateState();
        const idx = t.name === 'websocket' ? 0 : t.idx;
        this._timer('reconnect', () => this._attemptFrom(idx), delay);
    }

    // a poll refused because of one of the option rooms: drop it, say so
    _refusedRoom(t, err) {
        if (!(err.status === 403 || err.status === 400)) return false;
        const m = /room "([^"]*)"/.exec(err.message || '');
        if (!m || !this.rooms.has(m[1]) || this.refused.has(m[1])) return false;
        this.refused.add(m[1]);
        this._error({ code: err.code, room: m[1], status: err.status,
            message: err.message, transport: t.name });
        return true;
    }

    // messages -------------------------------------------------------------

    _message(t, m) {
        if (t !== this.attempt && t !== this.active && t !== this.probe) return;
        const room = typeof m.room === 'string' ? m.room : null;
        switch (m.type) {
        case 'event':
            if (room === null || this._left(room)) return;
            if (!this._accept(room, m.seq, m.epoch)) return;
            this.host.onEvent(m);
            return;

        case 'subscribed':
            if (room === null) return;
            if (!this.rooms.has(room) && !t.sent.has(room)
                && !this.serverRooms.has(room))
            {
                this.serverRooms.add(room);
                if (!isFamily(room)) this.kept.add(room);
            }
            if (!isFamily(room) && Number.isSafeInteger(m.seq)
                && typeof m.epoch === 'string')
            {
                const k = this.pos.get(room);
                if (!k || k.epoch !== m.epoch || k.seq < m.seq) {
                    this._setPos(room, m.seq, m.epoch);
                }
            }
            t.acked.add(room);
            this.host.onPositions();
            break;

        case 'gap':
            if (room === null) return;
            this._gap(room, m);
            break;

        case 'error':
            this._serverError(t, m, room);
            break;

        case 'unsubscribed':
            // later events of the room are another subscription's
            if (room !== null && t === this.active) this.leaving.delete(room);
            return;

        case 'refreshed':
        case 'pong':
        default:
            return;         // unknown types are ignored
        }
        if ((t === this.probe || t === this.attempt) && t.opened && this._ready(t)) {
            this._adopt(t);
        }
    }

    _gap(room, m) {
        const gap = { reason: typeof m.reason === 'string' ? m.reason : 'unknown' };
        for (const k of ['from', 'to', 'seq', 'epoch']) {
            if (m[k] !== undefined) gap[k] = m[k];
        }
        const k = this.pos.get(room);
        if (gap.reason === 'history' && Number.isSafeInteger(gap.to)
            && typeof gap.epoch === 'string')
        {
            // the other transport of a switch may report it again
            if (k && k.epoch === gap.epoch && k.seq >= gap.to) return;
            this._setPos(room, gap.to, gap.epoch);
        } else if (gap.reason === 'epoch' && Number.isSafeInteger(gap.seq)
            && typeof gap.epoch === 'string')
        {
            const key = gap.epoch + ':' + gap.seq;
            if (this.lastGap.get(room) === key && k && k.epoch === gap.epoch
                && k.seq >= gap.seq)
            {
                return;
            }
            this.lastGap.set(room, key);
            this._setPos(room, gap.seq, gap.epoch);
        }
        this.host.onGap(room, gap);
        this.host.onPositions();
    }

    _serverError(t, m, room) {
        const code = typeof m.code === 'string' ? m.code : 'error';
        const message = typeof m.message === 'string' ? m.message : code;
        if (t.refreshId !== undefined && m.id === t.refreshId) {
            // a refused refresh: a rate limit passes, another token
            // (other claims) needs a new connection
            if (code === 'rate_limited') {
                this._timer('refresh', () => this._refresh(), 10000);
            } else if (t === this.active) {
                this._startProbe(t.idx, true);
            }
            this._error({ code, message, transport: t.name });
            return;
        }
        const r = room || (m.id !== undefined && t.roomOf ? t.roomOf(m.id) : null);
        if (r && this.rooms.has(r) && code !== 'rate_limited'
            && code !== 'zone_full' && code !== 'internal')
        {
            this.refused.add(r);
        }
        if (r) t.acked.add(r);
        if (t === this.probe) return;       // the active one says it too
        const e = { code, message, transport: t.name };
        if (r) e.room = r;
        this._error(e);
        if (r && (code === 'rate_limited' || code === 'zone_full'
            || code === 'internal') && t.name === 'websocket')
        {
            // retry later on the same socket
            setTimeout(() => {
                if (!t.closed && this.rooms.has(r)) t.roomChanged(r, true);
            }, 2000 + Math.random() * 3000);
        }
    }

    _error(e) {
        this.host.onError(e);
    }

    // state ----------------------------------------------------------------

    _updateState() {
        let s;
        let tr = null;
        if (!this.online) {
            s = 'offline';
        } else if (this.active) {
            tr = this.active.name;
            s = tr === 'websocket' ? 'live' : 'polling';
        } else {
            s = this.failures >= this.o.offlineAfter ? 'offline' : 'connecting';
        }
        if (s !== this.state || tr !== this.transport) {
            this.state = s;
            this.transport = tr;
            this.host.onState(s, tr);
        }
    }

    _closeAll() {
        this.gen++;
        for (const t of this._transports()) t.close();
        this.attempt = this.active = this.probe = null;
        for (const n of ['reconnect', 'probe', 'ready', 'healthy', 'rooms']) {
            this._clear(n);
        }
    }

    setOnline(v) {
        v = !!v;
        if (v === this.online || this.closed) return;
        this.online = v;
        if (!v) {
            this._closeAll();
            this._updateState();
        } else {
            this.failures = 0;
            this._updateState();
            if (this.started) this._attemptFrom(0);
        }
    }

    close() {
        if (this.closed) return;
        this.closed = true;
        this._closeAll();
        for (const n of Object.keys(this.timers)) this._clear(n);
        this.state = 'offline';
        this.transport = null;
    }
}

///////////////////////////////////////////////////////////////////////////////
// the hub: one core shared by tabs (clients); each tab gets the events of
// its rooms and of the handshake's rooms. A tab is a send(msg) function.
//
// tab → hub: attach {id, config, rooms, positions, token, hasGetToken,
//            online, lock}, sub {room, position}, unsub {room},
//            token {rid, token | error}, online {value}, detach
// hub → tab: state {state, transport}, event {m}, gap {room, gap},
//            error {e}, pos {positions}, tokenreq {rid}

class Hub {
    constructor(cfg) {
        this.tabs = new Map();
        this.waits = new Map();
        this.rid = 0;
        this.onEmpty = null;
        this.core = new Core(cfg, {
            getToken: () => this._token(),
            canRefresh: () => {
                for (const t of this.tabs.values()) if (t.hasGetToken) return true;
                return false;
            },
            onEvent: (m) => this._toTabs(m.room, { t: 'event', m }),
            onGap: (room, gap) => this._toTabs(room, { t: 'gap', room, gap }),
            onState: (state, transport) => {
                for (const tab of this.tabs.values()) {
                    tab.send({ t: 'state', state, transport });
                }
            },
            onError: (e) => {
                if (e.room) this._toTabs(e.room, { t: 'error', e }, true);
                else for (const tab of this.tabs.values()) tab.send({ t: 'error', e });
            },
            onPositions: () => this._positionsSoon(),
        });
    }

    attach(id, send, a) {
        const old = this.tabs.get(id);
        if (old) this._drop(old);
        const tab = { id, send, rooms: new Set(), hasGetToken: !!a.hasGetToken,
            token: typeof a.token === 'string' ? a.token : null };
        this.tabs.set(id, tab);
        if (a.positions) this.core.seed(a.positions);
        if (Array.isArray(a.rooms)) {
            for (const r of a.rooms) this._add(tab, r, a.positions && a.positions[r]);
        }
        if (typeof a.online === 'boolean') this.core.setOnline(a.online);
        send({ t: 'state', state: this.core.state, transport: this.core.transport });
        send({ t: 'pos', positions: this._positionsFor(tab) });
        if (!this.deferStart) this.core.start();
    }

    detach(id) {
        const tab = this.tabs.get(id);
        if (!tab) return;
        this._drop(tab);
        this.tabs.delete(id);
        for (const [rid, w] of this.waits) {
            if (w.tab === id) {
                this.waits.delete(rid);
                clearTimeout(w.timer);
                w.reject(new Error('the tab went away'));
            }
        }
        if (this.tabs.size === 0) this.close();
    }

    close() {
        this.core.close();
        this.tabs.clear();
        if (this.onEmpty) this.onEmpty();
        this.onEmpty = null;
    }

    handle(id, msg) {
        const tab = this.tabs.get(id);
        if (!tab || !isObject(msg)) return;
        switch (msg.t) {
        case 'sub':
            this._add(tab, msg.room, msg.position);
            break;
        case 'unsub':
            if (tab.rooms.delete(msg.room)) this.core.removeRoom(msg.room);
            break;
        case 'token': {
            const w = this.waits.get(msg.rid);
            if (!w) break;
            this.waits.delete(msg.rid);
            clearTimeout(w.timer);
            if (msg.error !== undefined) w.reject(new Error(String(msg.error)));
            else w.resolve(typeof msg.token === 'string' ? msg.token : null);
            break;
        }
        case 'online':
            this.core.setOnline(!!msg.value);
            break;
        case 'detach':
            this.detach(id);
            break;
        default:
            break;
        }
    }

    _add(tab, room, position) {
        if (!validRoom(room) || tab.rooms.has(room)) return;
        tab.rooms.add(room);
        this.core.addRoom(room, position);
    }

    _drop(tab) {
        for (const r of tab.rooms) this.core.removeRoom(r);
        tab.rooms.clear();
    }

    _wants(tab, room) {
        for (const r of tab.rooms) if (roomMatches(r, room)) return true;
        for (const r of this.core.serverRooms) if (roomMatches(r, room)) return true;
        return false;
    }

    _toTabs(room, msg, onlyMatching) {
        let sent = false;
        for (const tab of this.tabs.values()) {
            if (this._wants(tab, room)) {
                tab.send(msg);
                sent = true;
            }
        }
        // a handshake room not announced yet (its replay comes before
        // its 'subscribed'): every tab is in it
        if (!sent && !onlyMatching) {
            for (const tab of this.tabs.values()) tab.send(msg);
        }
    }

    _positionsFor(tab) {
        const all = this.core.positions();
        const out = {};
        for (const room of Object.keys(all)) {
            if (this._wants(tab, room) || !this.core.rooms.has(room)) {
                out[room] = all[room];
            }
        }
        return out;
    }

    _positionsSoon() {
        if (this.posTimer) return;
        this.posTimer = setTimeout(() => {
            this.posTimer = null;
            for (const tab of this.tabs.values()) {
                tab.send({ t: 'pos', positions: this._positionsFor(tab) });
            }
        }, 0);
    }

    // the newest tab with getToken() answers; else the newest static token
    async _token() {
        const tabs = [...this.tabs.values()].reverse();
        let last = null;
        for (const tab of tabs) {
            if (!tab.hasGetToken) continue;
            try {
                return await this._ask(tab);
            } catch (e) {
                last = e;
            }
        }
        if (last) throw last;
        for (const tab of tabs) if (tab.token) return tab.token;
        return null;
    }

    _ask(tab) {
        return new Promise((resolve, reject) => {
            const rid = ++this.rid;
            const timer = setTimeout(() => {
                this.waits.delete(rid);
                reject(new Error('getToken() did not answer'));
            }, 15000);
            this.waits.set(rid, { tab: tab.id, resolve, reject, timer });
            tab.send({ t: 'tokenreq', rid });
        });
    }
}

///////////////////////////////////////////////////////////////////////////////
// links between a client and its hub: in the page, in a SharedWorker, or
// in the leader tab (over BroadcastChannel)

class LocalLink {
    constructor(client) {
        this.client = client;
        this.hub = new Hub(client._config);
    }

    attach() {
        this.hub.attach(this.client.id, (m) => this.client._recv(m),
            this.client._attachMsg());
    }

    send(msg) {
        this.hub.handle(this.client.id, msg);
    }

    close() {
        this.hub.detach(this.client.id);
    }
}

class WorkerLink {
    constructor(client, key, onFail) {
        this.client = client;
        const url = client._opts.workerUrl
            || new URL('./signal-worker.js', import.meta.url);
        this.worker = new SharedWorker(url, { type: 'module',
            name: 'ngx-signal ' + key });
        this.port = this.worker.port;
        this.ok = false;
        const fail = () => {
            if (this.ok || this.failed) return;
            this.failed = true;
            clearTimeout(this.timer);
            try {
                this.port.close();
            } catch (e) { /* closed */ }
            onFail();
        };
        this.worker.onerror = fail;
        this.timer = setTimeout(fail, 5000);
        this.port.onmessage = (ev) => {
            const m = ev.data;
            if (!isObject(m)) return;
            if (m.t === 'hello') {
                this.ok = true;
                clearTimeout(this.timer);
                return;
            }
            if (!this.failed) client._recv(m);
        };
        this.port.start();
    }

    attach() {
        this.send(this.client._attachMsg());
    }

    send(msg) {
        if (this.failed) return;
        try {
            this.port.postMessage(msg);
        } catch (e) { /* closed */ }
    }

    close() {
        clearTimeout(this.timer);
        this.send({ t: 'detach' });
        try {
            this.port.close();
        } catch (e) { /* closed */ }
    }
}

// Without SharedWorker: the tab holding the leader lock runs the hub; the
// others talk to it over a BroadcastChannel. When the leader goes, the
// next tab in the lock's queue takes over and resumes from the positions
// the tabs bring (the oldest of each room: a tab drops what it already has).
class LeaderLink {
    constructor(client, key) {
        this.client = client;
        this.key = key;
        this.id = client.id;
        this.hub = null;
        this.bc = new BroadcastChannel('ngx-signal ' + key);
        this.bc.onmessage = (ev) => this._bcMessage(ev.data);
        this.abort = new AbortController();
        navigator.locks.request('ngx-signal leader ' + key,
            { signal: this.abort.signal },
            () => new Promise((resolve) => {
                this.resign = resolve;
                if (this.closed) {
                    resolve();
                    return;
                }
                this._lead();
            })).catch(() => {});
    }

    attach() {
        if (this.hub) {
            this.hub.attach(this.id, (m) => this.client._recv(m),
                this.client._attachMsg());
        } else {
            this.bc.postMessage({ from: this.id, m: this.client._attachMsg() });
        }
    }

    send(msg) {
        if (this.closed && msg.t !== 'detach') return;
        if (this.hub) this.hub.handle(this.id, msg);
        else this.bc.postMessage({ from: this.id, m: msg });
    }

    _lead() {
        const hub = new Hub(this.client._config);
        hub.deferStart = true;
        this.hub = hub;
        hub.attach(this.id, (m) => this.client._recv(m), this.client._attachMsg());
        this.bc.postMessage({ leader: this.id });
        // the other tabs attach with their rooms and positions first
        setTimeout(() => {
            hub.deferStart = false;
            if (this.hub === hub && hub.tabs.size) hub.core.start();
        }, 250);
    }

    _bcMessage(d) {
        if (!isObject(d) || this.closed) return;
        if (typeof d.leader === 'string') {
            if (!this.hub) this.attach();
            return;
        }
        if (this.hub && typeof d.from === 'string' && isObject(d.m)) {
            const hub = this.hub;
            const from = d.from;
            if (d.m.t === 'attach') {
                hub.attach(from, (m) => this.bc.postMessage({ to: from, m }), d.m);
                if (typeof d.m.lock === 'string') {
                    navigator.locks.request(d.m.lock, () => {
                        if (this.hub === hub) hub.detach(from);
                    }).catch(() => {});
                }
            } else {
                hub.handle(from, d.m);
            }
            return;
        }
        if (!this.hub && d.to === this.id && isObject(d.m)) this.client._recv(d.m);
    }

    close() {
        this.closed = true;
        if (this.hub) {
            const hub = this.hub;
            this.hub = null;
            hub.close();
        } else {
            this.bc.postMessage({ from: this.id, m: { t: 'detach' } });
        }
        if (this.resign) this.resign();
        this.abort.abort();
        this.bc.close();
    }
}

// the SharedWorker's side (signal-worker.js): one hub per worker (the
// worker's name is the connection's key)
export function serveSharedWorker(scope) {
    let hub = null;
    scope.addEventListener('connect', (e) => {
        const port = e.ports[0];
        let id = null;
        let mine = null;
        port.onmessage = (ev) => {
            const msg = ev.data;
            if (!isObject(msg)) return;
            if (msg.t === 'attach') {
                if (typeof msg.id !== 'string' || !isObject(msg.config)) return;
                id = msg.id;
                if (!hub) {
                    try {
                        hub = new Hub(msg.config);
                    } catch (err) {
                        return;
                    }
                    const h = hub;
                    hub.onEmpty = () => {
                        if (hub === h) hub = null;
                    };
                }
                mine = hub;
                hub.attach(id, (m) => {
                    try {
                        port.postMessage(m);
                    } catch (err) { /* gone */ }
                }, msg);
                // the tab holds this lock while it lives
                const locks = scope.navigator && scope.navigator.locks;
                if (typeof msg.lock === 'string' && locks) {
                    const h = hub;
                    const tab = id;
                    locks.request(msg.lock, () => h.detach(tab)).catch(() => {});
                }
                return;
            }
            if (!mine || id === null) return;
            if (msg.t === 'detach') {
                mine.detach(id);
                return;
            }
            mine.handle(id, msg);
        };
        port.start();
        port.postMessage({ t: 'hello' });
    });
    scope.addEventListener('online', () => hub && hub.core.setOnline(true));
    scope.addEventListener('offline', () => hub && hub.core.setOnline(false));
}

///////////////////////////////////////////////////////////////////////////////
// the client

class SignalClient {
    constructor(opts) {
        const base = typeof document !== 'undefined' ? document.baseURI
            : (globalThis.location && globalThis.location.href);
        this._opts = opts;
        this._config = buildConfig(opts, base);
        this.id = randomId();
        this._handlers = new Map();
        this._rooms = new Set();
        for (const r of Array.isArray(opts.rooms) ? opts.rooms : []) {
            if (validRoom(r)) this._rooms.add(r);
        }
        this._initial = isObject(opts.positions) ? opts.positions : {};
        this._pos = {};
        this._last = new Map();
        this._state = 'connecting';
        this._transport = null;
        this._closed = false;
        this._getToken = typeof opts.getToken === 'function' ? opts.getToken : null;
        this._token = typeof opts.token === 'string' && opts.token ? opts.token : null;
        this._onGap = typeof opts.onGap === 'function' ? opts.onGap : null;
        this._link = null;

        if (typeof addEventListener === 'function' && typeof window !== 'undefined') {
            this._onOnline = () => this._send({ t: 'online', value: true });
            this._onOffline = () => this._send({ t: 'online', value: false });
            // leaving: the shared connection forgets this tab at once (the
            // lock would tell it too); back from the back/forward cache:
            // attach again. A leader tab keeps its hub: it dies with the page.
            this._onHide = () => {
                const l = this._link;
                if (l && !(l instanceof LocalLink) && !(l instanceof LeaderLink && l.hub)) {
                    this._send({ t: 'detach' });
                    this._hidden = true;
                }
            };
            this._onShow = (ev) => {
                if (this._hidden && ev.persisted && this._link) {
                    this._hidden = false;
                    this._link.attach();
                }
            };
            addEventListener('online', this._onOnline);
            addEventListener('offline', this._onOffline);
            addEventListener('pagehide', this._onHide);
            addEventListener('pageshow', this._onShow);
        }
        this._start(opts.shared !== false);
    }

    get state() {
        return this._state;
    }

    get transport() {
        return this._transport;
    }

    async _start(shared) {
        const key = keyOf(this._config);
        const locks = typeof navigator !== 'undefined' ? navigator.locks : null;
        const canWorker = shared && typeof SharedWorker === 'function';
        const canLeader = shared && locks && typeof BroadcastChannel === 'function';
        if (canWorker || canLeader) {
            if (locks) {
                // held while this client lives: the hub learns when it is gone
                this._lock = 'ngx-signal tab ' + this.id;
                await new Promise((held) => {
                    locks.request(this._lock, () => new Promise((release) => {
                        this._releaseLock = release;
                        held();
                    })).catch(() => {
                        this._lock = undefined;
                        held();
                    });
                });
            }
            if (this._closed) {
                if (this._releaseLock) this._releaseLock();
                return;
            }
        }
        const leaderOrLocal = () => {
            if (this._closed) return;
            this._link = canLeader ? new LeaderLink(this, key) : new LocalLink(this);
            this._link.attach();
        };
        if (canWorker) {
            try {
                this._link = new WorkerLink(this, key, leaderOrLocal);
                this._link.attach();
                return;
            } catch (e) {
                // a worker script from another origin, a blocked worker...
            }
        }
        leaderOrLocal();
    }

    _send(msg) {
        if (this._link && !this._closed) this._link.send(msg);
    }

    _attachMsg() {
        const positions = {};
        for (const src of [this._initial, this._pos]) {
            for (const room of Object.keys(src)) {
                if (isPos(src[room])) positions[room] = src[room];
            }
        }
        for (const [room, p] of this._last) {
            if (!isFamily(room) && (room in this._pos || room in this._initial)) {
                positions[room] = p;
            }
        }
        return {
            t: 'attach', id: this.id, config: this._config, rooms: [...this._rooms],
            positions, token: this._token, hasGetToken: !!this._getToken,
            online: typeof navigator === 'undefined' || navigator.onLine !== false,
            lock: this._lock,
        };
    }

    _recv(msg) {
        if (this._closed || !isObject(msg)) return;
        switch (msg.t) {
        case 'state':
            if (msg.state !== this._state || msg.transport !== this._transport) {
                this._state = msg.state;
                this._transport = msg.transport;
                this._emit('state', msg.state, msg.transport);
            }
            break;
        case 'event':
            if (isObject(msg.m)) this._event(msg.m);
            break;
        case 'gap':
            if (typeof msg.room === 'string' && isObject(msg.gap)) {
                this._gap(msg.room, msg.gap);
            }
            break;
        case 'error':
            this._emit('error', new SignalError(msg.e));
            break;
        case 'pos':
            if (isObject(msg.positions)) this._pos = msg.positions;
            break;
        case 'tokenreq':
            this._answerToken(msg.rid);
            break;
        default:
            break;
        }
    }

    _event(m) {
        const room = m.room;
        if (typeof room !== 'string') return;
        const { seq, epoch } = m;
        if (Number.isSafeInteger(seq) && typeof epoch === 'string') {
            // once per client, also across a change of leader tab
            const k = this._last.get(room);
            if (k && k.epoch === epoch && seq <= k.seq) return;
            this._last.delete(room);
            this._last.set(room, { seq, epoch });
            if (this._last.size > POS_LIMIT) {
                this._last.delete(this._last.keys().next().value);
            }
            if (room in this._pos) this._pos[room] = { seq, epoch };
        }
        const data = m.data === undefined ? null : m.data;
        const meta = { room, event: m.event, seq, epoch };
        this._emit('*', data, meta);
        if (typeof m.event === 'string' && !RESERVED.has(m.event)) {
            this._emit(m.event, data, meta);
        }
    }

    _gap(room, gap) {
        let p = null;
        if (gap.reason === 'history' && Number.isSafeInteger(gap.to)) {
            p = { seq: gap.to, epoch: gap.epoch };
        } else if (gap.reason === 'epoch' && Number.isSafeInteger(gap.seq)) {
            p = { seq: gap.seq, epoch: gap.epoch };
        }
        if (p && typeof p.epoch === 'string') {
            const k = this._last.get(room);
            if (gap.reason === 'epoch' || !k || k.epoch !== p.epoch || k.seq < p.seq) {
                this._last.set(room, p);
            }
        }
        if (this._onGap) {
            try {
                this._onGap(room, gap);
            } catch (e) {
                report(e);
            }
        }
        this._emit('gap', room, gap);
    }

    async _answerToken(rid) {
        let msg;
        try {
            const tok = this._getToken ? await this._getToken() : this._token;
            msg = { t: 'token', rid, token: typeof tok === 'string' ? tok : null };
        } catch (e) {
            msg = { t: 'token', rid, error: String((e && e.message) || e) };
        }
        this._send(msg);
    }

    _emit(name, ...args) {
        const set = this._handlers.get(name);
        if (!set) return;
        for (const fn of [...set]) {
            try {
                fn(...args);
            } catch (e) {
                report(e);
            }
        }
    }

    on(name, fn) {
        if (typeof name !== 'string' || typeof fn !== 'function') {
            throw new TypeError('on(name, handler)');
        }
        let set = this._handlers.get(name);
        if (!set) {
            set = new Set();
            this._handlers.set(name, set);
        }
        // the same function twice: two subscriptions
        const entry = (...args) => fn(...args);
        set.add(entry);
        return () => {
            set.delete(entry);
        };
    }

    subscribe(room, position) {
        if (this._closed || !validRoom(room) || this._rooms.has(room)) return;
        this._rooms.add(room);
        const p = isPos(position) ? position : this._initial[room];
        this._send({ t: 'sub', room, position: isPos(p) ? p : undefined });
    }

    unsubscribe(room) {
        if (this._closed || !this._rooms.delete(room)) return;
        delete this._pos[room];
        this._last.delete(room);
        this._send({ t: 'unsub', room });
    }

    rooms() {
        return [...this._rooms];
    }

    positions() {
        const out = {};
        for (const room of Object.keys(this._pos)) {
            const p = this._pos[room];
            if (isPos(p)) out[room] = { seq: p.seq, epoch: p.epoch };
        }
        return out;
    }

    close() {
        if (this._closed) return;
        if (this._link) this._link.close();
        this._closed = true;
        this._link = null;
        if (this._releaseLock) this._releaseLock();
        if (this._onOnline) {
            removeEventListener('online', this._onOnline);
            removeEventListener('offline', this._onOffline);
            removeEventListener('pagehide', this._onHide);
            removeEventListener('pageshow', this._onShow);
        }
        this._handlers.clear();
        this._state = 'offline';
        this._transport = null;
    }
}

export function connect(options) {
    return new SignalClient(options || {});
}
