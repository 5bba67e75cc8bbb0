// TypeScript declarations of signal.js, the browser client of
// ngx_signal_module. See README.md next to this file.

/** The connection's state, for a Live/Polling badge. */
export type SignalState = 'connecting' | 'live' | 'polling' | 'offline';

/** How the connection reaches the server. */
export type SignalTransport = 'websocket' | 'eventsource' | 'longpoll';

/** Where a room's events stand: the seq of its last event and its epoch. */
export interface SignalPosition {
  seq: number;
  /** 16 hex digits, compared as an opaque string. */
  epoch: string;
}

/** Positions by exact room name. */
export type SignalPositions = Record<string, SignalPosition>;

/** Events of a room the connection will not get (docs/protocol.md). */
export interface SignalGap {
  /** 'history': events from..to are gone; 'epoch': the room's numbers
   *  restarted (seq/epoch are the new position); 'unavailable': history
   *  could not be read. */
  reason: 'history' | 'epoch' | 'unavailable' | string;
  from?: number;
  to?: number;
  seq?: number;
  epoch?: string;
}

/** What comes with an event's data. */
export interface SignalMeta {
  /** The room the event was published to (also through a family). */
  room: string;
  event: string;
  seq: number;
  epoch: string;
}

export declare class SignalError extends Error {
  name: 'SignalError';
  /** The server's error code ('forbidden', 'invalid_token', 'rate_limited',
   *  ...), or the client's: 'unreachable' (no transport could connect),
   *  'token_failed' (getToken() threw). */
  code: string;
  /** The room a refused subscription names. */
  room?: string;
  /** The HTTP status of a refused poll. */
  status?: number;
  transport?: SignalTransport;
}

export interface ConnectOptions {
  /** The signal_websocket location: relative to the page, or ws(s)://,
   *  http(s)://. */
  url: string;
  /** A JWT, sent as the `token` query argument. */
  token?: string;
  /** Called at connect and again before the token's exp (read from the
   *  JWT's payload); with a shared connection, in one of the tabs. */
  getToken?: () => string | null | Promise<string | null>;
  /** Rooms (or families, 'prefix:*') beyond the server's signal_join ones. */
  rooms?: string[];
  /** Extra query arguments of the location (part of the shared
   *  connection's identity). */
  params?: Record<string, string | number | boolean | null | undefined>;
  /** The order of fallback; default all three. */
  transports?: SignalTransport[];
  /** One server connection per browser for this url, params and
   *  transports, shared by the tabs (default true). */
  shared?: boolean;
  /** A room's events were lost: refetch its state. */
  onGap?: (room: string, gap: SignalGap) => void;
  /** Where to start: events up to these positions are not delivered. */
  positions?: SignalPositions;

  /** ms between WebSocket probes while on a fallback (default 20000). */
  upgradeInterval?: number;
  /** ms: cap of the first reconnect delay (full jitter; default 500). */
  backoffBase?: number;
  /** ms: largest reconnect delay (default 30000). */
  backoffMax?: number;
  /** ms a connection stays up before the backoff resets (default 10000). */
  healthyAfter?: number;
  /** ms for a WebSocket or an event stream to open (default 10000). */
  openTimeout?: number;
  /** ms for an open event stream to deliver its first message before
   *  long-polling takes over: a buffering proxy (default 5000). */
  streamTimeout?: number;
  /** ms for a connection's rooms to be subscribed before it is used
   *  anyway (default 5000). */
  readyTimeout?: number;
  /** ms a poll may be held before it is given up (default 90000). */
  pollTimeout?: number;
  /** ms of WebSocket silence before the client pings (default 25000). */
  pingInterval?: number;
  /** ms more without an answer before the socket counts as dead
   *  (default 10000). */
  pongTimeout?: number;
  /** Failed rounds over every transport before the state says 'offline'
   *  (default 3). */
  offlineAfter?: number;
  /** Query argument of the token (signal_jwt_token query=NAME; default
   *  'token'). */
  tokenParam?: string;
  /**
   * WebSocket subprotocols to offer (the location's signal_subprotocols,
   * e.g. ['signal.v1']). With them the token travels as
   * "bearer.<token>" among the offered subprotocols
   * (signal_jwt_token subprotocol) instead of the WebSocket URL; event
   * streams and polls still send it in the query (or use a cookie).
   */
  protocols?: string[];
  /** Cookies on cross-origin event streams and polls (default false). */
  withCredentials?: boolean;
  /** The SharedWorker script (default: signal-worker.js next to
   *  signal.js; it must be same-origin with the page). */
  workerUrl?: string | URL;
}

export type EventHandler = (data: unknown, meta: SignalMeta) => void;

export interface SignalClient {
  /** The shared connection's state. */
  readonly state: SignalState;
  readonly transport: SignalTransport | null;

  /** Handlers; each call returns the function that removes it. Server
   *  events named 'state', 'gap', 'error' or '*' reach '*' handlers only. */
  on(name: 'state', handler: (state: SignalState,
    transport: SignalTransport | null) => void): () => void;
  on(name: 'gap', handler: (room: string, gap: SignalGap) => void): () => void;
  on(name: 'error', handler: (err: SignalError) => void): () => void;
  on(name: '*', handler: EventHandler): () => void;
  on(name: string, handler: EventHandler): () => void;

  /** Joins a room or a family; an exact room resumes from `position`
   *  (or options.positions) when the shared connection is not in it yet. */
  subscribe(room: string, position?: SignalPosition): void;
  unsubscribe(room: string): void;
  /** This client's option rooms. */
  rooms(): string[];
  /** Positions of the exact rooms this client is in (those of
   *  signal_join included), once subscribed. */
  positions(): SignalPositions;
  /** Leaves: the shared connection closes with its last client. */
  close(): void;
}

export declare function connect(options: ConnectOptions): SignalClient;

/** The claims of a JWT, not verified (the client reads exp and iat). */
export declare function decodeToken(token: string): Record<string, unknown> | null;

/** The SharedWorker's side; signal-worker.js calls it. */
export declare function serveSharedWorker(scope: {
  addEventListener(type: string, listener: (event: any) => void): void;
}): void;
