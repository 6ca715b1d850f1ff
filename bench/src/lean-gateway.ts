/**
 * A lean WebSocket gateway for bench/connections: the same bytes a simulated gateway sends (session
 * start, upgrade, control/open, control/ping every heartbeat), written on raw sockets. The
 * simulator's SimulatedWsDevice (http.request, the `ws` client, logs, state) costs its load process
 * more CPU per session than edge-ws spends, so on a shared machine it capped the sessions/s figure.
 * This client keeps only what the protocol needs: an HTTP/1.1 response parser, a WebSocket frame
 * parser and masked client frames (pure, tested in bench/test/lean-gateway.test.ts).
 */
import { hash, randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  Backoff,
  type BackoffOptions,
  type CredentialStore,
  type DeviceSession,
  EdgeRefusal,
  type FleetStats,
  type GatewayIdentity,
  OPEN_FRAME,
  PING_FRAME,
  readEdgeMessage,
  SESSIONS_PATH,
  type SessionRequest,
  SUBPROTOCOL,
  sessionFromAnswer,
  sessionRequestOf,
} from '@fleetwire/simulator';

// ---------------------------------------------------------------------------------------------
// Wire pieces (pure)

export const OPCODE = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const CONNECT_PATH = '/device/v1/connect';
const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 16 * 1024;
/** As the simulator's `ws` client (maxPayload). */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/** What the server must answer to a `Sec-WebSocket-Key` (RFC 6455 §4.2.2). */
export function acceptKeyOf(key: string): string {
  return hash('sha1', key + WS_GUID, 'base64');
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * HTTP/1.1 responses out of a byte stream that arrives in arbitrary pieces (several pipelined
 * answers in one read, one answer over many). Bodies by Content-Length only: the edge's answers
 * (fastify's and the upgrade refusals) always carry one. A 101 has no body; what follows it are
 * WebSocket frames, left in `rest()`.
 */
export class HttpResponseParser {
  #buffer: Buffer = EMPTY;
  #head: { status: number; headers: Map<string, string>; bodyLength: number } | undefined;

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** The next complete response, or undefined until more bytes arrive; throws on a malformed one. */
  next(): HttpResponse | undefined {
    if (this.#head === undefined && !this.#readHead()) return undefined;
    const head = this.#head!;
    if (this.#buffer.length < head.bodyLength) return undefined;
    const body = this.#buffer.subarray(0, head.bodyLength);
    this.#buffer = this.#buffer.subarray(head.bodyLength);
    this.#head = undefined;
    return { status: head.status, headers: head.headers, body };
  }

  /** The bytes after the responses read so far (and forgets them). */
  rest(): Buffer {
    const rest = this.#buffer;
    this.#buffer = EMPTY;
    return rest;
  }

  #readHead(): boolean {
    const end = this.#buffer.indexOf(HEAD_END);
    if (end < 0) {
      if (this.#buffer.length > MAX_HEAD_BYTES) throw new Error('HTTP response head too large');
      return false;
    }
    const lines = this.#buffer.toString('latin1', 0, end).split('\r\n');
    this.#buffer = this.#buffer.subarray(end + HEAD_END.length);
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!)?.[1];
    if (status === undefined) throw new Error(`not an HTTP response: ${lines[0]!.slice(0, 40)}`);
    const headers = headersOf(lines);
    if (headers.has('transfer-encoding')) throw new Error('chunked HTTP bodies are not supported');
    const code = Number(status);
    const noBody = code < 200 || code === 204 || code === 304;
    const bodyLength = noBody ? 0 : Number(headers.get('content-length') ?? 0);
    if (!Number.isSafeInteger(bodyLength) || bodyLength < 0) throw new Error('bad Content-Length');
    this.#head = { status: code, headers, bodyLength };
    return true;
  }
}

function headersOf(lines: string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad HTTP header line: ${line.slice(0, 40)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  return headers;
}

export interface WsMessage {
  opcode: number;
  payload: Buffer;
}

/**
 * Server-to-client WebSocket frames (RFC 6455 §5.2) out of a byte stream read in arbitrary pieces:
 * unmasked, 7-bit, 16-bit or 64-bit lengths, no extensions (none is negotiated). Fragmented data
 * messages are joined; control frames come out as they arrive (they may sit between fragments).
 */
export class FrameParser {
  #buffer: Buffer = EMPTY;
  #fragments: Buffer[] = [];
  #fragmentsOpcode = 0;

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** The next complete message, or undefined until more bytes arrive; throws on a protocol error. */
  next(): WsMessage | undefined {
    for (;;) {
      const frame = this.#frame();
      if (frame === undefined) return undefined;
      const message = this.#assemble(frame);
      if (message !== undefined) return message;
    }
  }

  #frame(): { fin: boolean; opcode: number; payload: Buffer } | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    if ((b[0]! & 0x70) !== 0) throw new Error('reserved bits set without an extension');
    if ((b[1]! & 0x80) !== 0) throw new Error('masked frame from the server');
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_MESSAGE_BYTES)) throw new Error('frame too large');
      length = Number(big);
      offset = 10;
    }
    if (length > MAX_MESSAGE_BYTES) throw new Error('frame too large');
    if (b.length < offset + length) return undefined;
    this.#buffer = b.length === offset + length ? EMPTY : b.subarray(offset + length);
    return { fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload: b.subarray(offset, offset + length) };
  }

  #assemble(frame: { fin: boolean; opcode: number; payload: Buffer }): WsMessage | undefined {
    const { fin, opcode, payload } = frame;
    if (opcode >= OPCODE.CLOSE) {
      if (!fin || payload.length > 125) throw new Error('bad control frame');
      return { opcode, payload };
    }
    if (opcode === OPCODE.CONTINUATION) {
      if (this.#fragments.length === 0) throw new Error('continuation without a first fragment');
      this.#fragments.push(payload);
    } else {
      if (this.#fragments.length > 0) throw new Error('new message inside a fragmented one');
      if (fin) return { opcode, payload };
      this.#fragmentsOpcode = opcode;
      this.#fragments.push(payload);
    }
    if (!fin) return undefined;
    const whole = Buffer.concat(this.#fragments);
    this.#fragments = [];
    if (whole.length > MAX_MESSAGE_BYTES) throw new Error('message too large');
    return { opcode: this.#fragmentsOpcode, payload: whole };
  }
}

/** A final client frame, masked with `mask` (4 bytes), as clients must (RFC 6455 §5.3). */
export function clientFrame(opcode: number, payload: Uint8Array, mask: Uint8Array): Buffer {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const offset = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(offset + n);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) frame[1] = 0x80 | n;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  frame.set(mask.subarray(0, 4), offset - 4);
  for (let i = 0; i < n; i++) frame[offset + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** A close frame's payload: the status code, then the reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** The session start as node:http sends the simulator's (device-http.ts startSession). */
export function sessionRequestBytes(host: string, body: SessionRequest): Buffer {
  const json = Buffer.from(JSON.stringify(body));
  const head =
    `POST ${SESSIONS_PATH} HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\n` +
    `Host: ${host}\r\nConnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), json]);
}

/** The upgrade request as the `ws` client writes the simulator's (no extensions offered). */
export function upgradeRequest(host: string, path: string, key: string, token: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n` +
    'Connection: Upgrade\r\nUpgrade: websocket\r\n' +
    `authorization: Bearer ${token}\r\nsec-websocket-protocol: ${SUBPROTOCOL}\r\nHost: ${host}\r\n\r\n`
  );
}

/** Why a 101 is not a usable WebSocket for this client, or undefined when it is. */
export function upgradeProblem(res: HttpResponse, key: string): string | undefined {
  if (res.status !== 101) return `status ${res.status}`;
  if (res.headers.get('upgrade')?.toLowerCase() !== 'websocket') return 'no Upgrade: websocket';
  if (res.headers.get('sec-websocket-accept') !== acceptKeyOf(key)) return 'wrong Sec-WebSocket-Accept';
  const chosen = res.headers.get('sec-websocket-protocol');
  if (chosen !== SUBPROTOCOL) return `the edge did not choose ${SUBPROTOCOL} (${chosen ?? 'none'})`;
  if (res.headers.has('sec-websocket-extensions')) return 'an extension nobody offered';
  return undefined;
}

/** The session in a 200/201 answer; an EdgeRefusal for anything else (the simulator's reading). */
export function sessionOf(res: HttpResponse): DeviceSession {
  return sessionFromAnswer(res.status, res.body.toString());
}

/** Random bytes drawn from one larger buffer: a mask key per frame without a syscall each. */
export class RandomPool {
  #buffer: Buffer = EMPTY;
  #at = 0;

  take(n: number): Buffer {
    if (this.#at + n > this.#buffer.length) {
      this.#buffer = randomBytes(8192);
      this.#at = 0;
    }
    const bytes = this.#buffer.subarray(this.#at, this.#at + n);
    this.#at += n;
    return bytes;
  }
}

// ---------------------------------------------------------------------------------------------
// Session starts: a few keep-alive sockets, requests pipelined

interface Waiter {
  resolve(res: HttpResponse): void;
  reject(err: Error): void;
}

/** One keep-alive connection; answers come back in request order (HTTP/1.1 pipelining). */
class PipelinedSocket {
  readonly socket: net.Socket;
  readonly #waiting: Waiter[] = [];
  readonly #parser = new HttpResponseParser();
  #closed = false;

  constructor(target: { host: string; port: number; localAddress?: string | undefined }, timeoutMs: number) {
    this.socket = net.connect(target);
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.#fail(new Error('socket hang up')));
    this.socket.on('timeout', () => this.#onTimeout(timeoutMs));
    this.socket.setTimeout(IDLE_CLOSE_MS);
  }

  get usable(): boolean {
    return !this.#closed;
  }

  get outstanding(): number {
    return this.#waiting.length;
  }

  request(bytes: Buffer, timeoutMs: number): Promise<HttpResponse> {
    if (this.#waiting.length === 0) this.socket.setTimeout(timeoutMs);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#parser.push(chunk);
    try {
      for (let res = this.#parser.next(); res !== undefined; res = this.#parser.next()) {
        this.#waiting.shift()?.resolve(res);
      }
    } catch (err) {
      this.socket.destroy();
      this.#fail(err as Error);
    }
    // Closed before the edge's keep-alive timeout (5 s) runs out, so a request never races it.
    if (this.#waiting.length === 0) this.socket.setTimeout(IDLE_CLOSE_MS);
  }

  /** Idle for IDLE_CLOSE_MS (closed), or a request unanswered for `timeoutMs` (its waiters fail). */
  #onTimeout(timeoutMs: number): void {
    this.socket.destroy();
    if (this.#waiting.length > 0) this.#fail(new Error(`no answer within ${timeoutMs} ms`));
  }

  #fail(err: Error): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(err);
  }
}

const IDLE_CLOSE_MS = 4_000;

/** `sockets` keep-alive connections (made on demand, one per source address in turn). */
export class SessionClient {
  readonly #sockets: Array<PipelinedSocket | undefined>;
  readonly #target: { host: string; port: number };
  readonly #localAddresses: Array<string | undefined>;
  readonly #timeoutMs: number;

  constructor(url: URL, sockets: number, localAddresses: Array<string | undefined>, timeoutMs: number) {
    this.#target = { host: url.hostname, port: Number(url.port) };
    this.#sockets = new Array(sockets).fill(undefined);
    this.#localAddresses = localAddresses.length ? localAddresses : [undefined];
    this.#timeoutMs = timeoutMs;
  }

  async start(host: string, body: SessionRequest): Promise<DeviceSession> {
    const res = await this.#pick().request(sessionRequestBytes(host, body), this.#timeoutMs);
    return sessionOf(res);
  }

  /** Closes the idle connections (so that the edge's memory counts only device connections). */
  close(): void {
    for (const s of this.#sockets) s?.close();
    this.#sockets.fill(undefined);
  }

  /** The least busy connection, a new one in place of a closed one. */
  #pick(): PipelinedSocket {
    let best = -1;
    for (let i = 0; i < this.#sockets.length; i++) {
      const s = this.#sockets[i];
      if (!s?.usable) {
        const localAddress = this.#localAddresses[i % this.#localAddresses.length];
        this.#sockets[i] = new PipelinedSocket({ ...this.#target, localAddress }, this.#timeoutMs);
      }
      if (best < 0 || this.#sockets[i]!.outstanding < this.#sockets[best]!.outstanding) best = i;
    }
    return this.#sockets[best]!;
  }
}

// ---------------------------------------------------------------------------------------------
// The gateway

export interface LeanObserver {
  accepted(gateway: LeanGateway, timing: { sessionMs: number; totalMs: number }): void;
  connectFailed(gateway: LeanGateway, reason: string): void;
}

/** What a fleet of lean gateways shares. */
export interface LeanFleet {
  url: URL;
  sessions: SessionClient;
  credentials: CredentialStore;
  stats: FleetStats;
  random: RandomPool;
  observer: LeanObserver;
  provisioningKey?: string;
  /** When neither control/accept nor the session names a heartbeat. */
  heartbeatMs: number;
  /** Each step of connecting (session start, upgrade + control/accept) must finish within this. */
  connectTimeoutMs: number;
  backoff: BackoffOptions;
}

const STATE = { IDLE: 0, SESSION: 1, UPGRADING: 2, OPENING: 3, ONLINE: 4, CLOSING: 5, STOPPED: 6 } as const;
type State = (typeof STATE)[keyof typeof STATE];

/**
 * One gateway: session start (pipelined on the fleet's connections), a TCP connection of its own
 * with a hand-written upgrade, control/open → control/accept, then a ping every heartbeat (the first
 * at a random phase) until stopped; reconnects with backoff like the simulator. Answers WebSocket
 * pings and close frames; discards everything else after the accept.
 */
export class LeanGateway {
  readonly id: string;
  readonly #identity: GatewayIdentity;
  readonly #localAddress: string | undefined;
  readonly #fleet: LeanFleet;
  readonly #backoff: Backoff;
  #state: State = STATE.IDLE;
  #socket: net.Socket | undefined;
  #http: HttpResponseParser | undefined;
  #frames: FrameParser | undefined;
  #key = '';
  #session: DeviceSession | undefined;
  #startedAt = 0;
  #sessionMs = 0;
  #accepted = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Counted in stats.wsConnected (from control/accept to the close). */
  #counted = false;
  /** Why the current attempt is being given up, for the observer. */
  #failure: string | undefined;
  #closed: Promise<void> = Promise.resolve();

  constructor(id: string, identity: GatewayIdentity, localAddress: string | undefined, fleet: LeanFleet) {
    this.id = id;
    this.#identity = identity;
    this.#localAddress = localAddress;
    this.#fleet = fleet;
    this.#backoff = new Backoff(fleet.backoff);
  }

  /** Connections accepted so far. */
  get connections(): number {
    return this.#accepted;
  }

  get online(): boolean {
    return this.#state === STATE.ONLINE;
  }

  start(): void {
    if (this.#state === STATE.IDLE) this.#connect();
  }

  async stop(): Promise<void> {
    const state = this.#state;
    this.#state = STATE.STOPPED;
    clearTimeout(this.#timer);
    const socket = this.#socket;
    if (socket && !socket.destroyed) {
      if (state === STATE.ONLINE || state === STATE.OPENING) {
        this.#send(OPCODE.CLOSE, closePayload(1000, 'stopped'));
      }
      socket.end();
      // An edge that never answers the close handshake must not hold the fleet's shutdown.
      setTimeout(() => socket.destroy(), 2_000).unref();
    }
    await this.#closed;
  }

  #connect(): void {
    this.#state = STATE.SESSION;
    this.#startedAt = performance.now();
    this.#fleet.sessions.start(this.#fleet.url.host, this.#sessionRequest()).then(
      (session) => this.#onSession(session),
      (err: Error) => this.#onSessionFailure(err),
    );
  }

  /** The simulator's body: device id, credential or fleet key, identity. */
  #sessionRequest(): SessionRequest {
    const credential = this.#fleet.credentials.get(this.id);
    return sessionRequestOf(this.id, this.#identity, credential, this.#fleet.provisioningKey);
  }

  #onSession(session: DeviceSession): void {
    if (this.#state === STATE.STOPPED) return;
    if (session.credential) this.#fleet.credentials.set(this.id, session.credential);
    this.#session = session;
    this.#sessionMs = performance.now() - this.#startedAt;
    this.#openSocket(session);
  }

  #onSessionFailure(err: Error): void {
    if (this.#state === STATE.STOPPED) return;
    if (err instanceof EdgeRefusal) this.#fleet.stats.sessionsRefused++;
    this.#fleet.observer.connectFailed(this, `session start: ${err.message}`);
    this.#retryLater();
  }

  #openSocket(session: DeviceSession): void {
    this.#state = STATE.UPGRADING;
    this.#key = this.#fleet.random.take(16).toString('base64');
    this.#http = new HttpResponseParser();
    this.#frames = new FrameParser();
    const socket = net.connect({
      host: this.#fleet.url.hostname,
      port: Number(this.#fleet.url.port),
      ...(this.#localAddress ? { localAddress: this.#localAddress } : {}),
    });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.write(
      upgradeRequest(this.#fleet.url.host, session.connectPath || CONNECT_PATH, this.#key, session.token),
      'latin1',
    );
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on('error', () => {});
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => this.#onClose(socket));
    this.#timer = setTimeout(
      () => this.#failAttempt('no control/accept in time'),
      this.#fleet.connectTimeoutMs,
    );
  }

  #onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.#socket) return;
    try {
      if (this.#state === STATE.UPGRADING) {
        const rest = this.#onUpgradeBytes(chunk);
        if (rest === undefined || rest.length === 0) return;
        chunk = rest;
      }
      this.#frames!.push(chunk);
      for (let m = this.#frames!.next(); m !== undefined; m = this.#frames!.next()) this.#onMessage(m);
    } catch (err) {
      this.#failAttempt((err as Error).message);
    }
  }

  /** Reads the upgrade answer; once it is a usable 101, says control/open and returns the bytes after it. */
  #onUpgradeBytes(chunk: Buffer): Buffer | undefined {
    this.#http!.push(chunk);
    const res = this.#http!.next();
    if (res === undefined) return undefined;
    const problem = upgradeProblem(res, this.#key);
    if (problem !== undefined) {
      if (res.status >= 400) this.#fleet.stats.sessionsRefused++;
      throw new Error(`upgrade: ${problem} ${res.body.toString().slice(0, 120)}`.trim());
    }
    const rest = this.#http!.rest();
    this.#http = undefined;
    this.#state = STATE.OPENING;
    this.#send(OPCODE.BINARY, OPEN_FRAME);
    return rest;
  }

  #onMessage(m: WsMessage): void {
    switch (m.opcode) {
      case OPCODE.BINARY:
        if (this.#state === STATE.OPENING) this.#onOpeningMessage(m.payload);
        return;
      case OPCODE.PING:
        this.#send(OPCODE.PONG, m.payload);
        return;
      case OPCODE.CLOSE:
        // Echo the status code (RFC 6455 §5.5.1), then the edge closes the TCP connection.
        if (this.#state !== STATE.CLOSING && this.#state !== STATE.STOPPED) {
          this.#send(OPCODE.CLOSE, m.payload.subarray(0, 2));
          if (this.#state !== STATE.ONLINE) this.#failAttempt('closed by the edge before control/accept');
          else this.#state = STATE.CLOSING;
        }
        // stop() may have ended the socket already (ending twice makes an error).
        if (this.#socket?.writableEnded === false) this.#socket.end();
        return;
    }
  }

  /** Before control/accept only the accept matters (the simulator ignores the rest as well). */
  #onOpeningMessage(payload: Buffer): void {
    const message = readEdgeMessage(payload);
    if (message.kind === 'error' && message.close) throw new Error(`control/error ${message.err}`);
    if (message.kind !== 'accept') return;
    clearTimeout(this.#timer);
    this.#state = STATE.ONLINE;
    const stats = this.#fleet.stats;
    stats.wsConnected++;
    this.#counted = true;
    if (this.#accepted > 0) stats.reconnects++;
    this.#accepted++;
    this.#backoff.reset();
    this.#fleet.observer.accepted(this, {
      sessionMs: this.#sessionMs,
      totalMs: performance.now() - this.#startedAt,
    });
    this.#startHeartbeat(message.heartbeatMs ?? this.#session?.heartbeatMs ?? this.#fleet.heartbeatMs);
  }

  /** The first ping at a random point of the first period, as the simulator's gateways. */
  #startHeartbeat(everyMs: number): void {
    this.#timer = setTimeout(
      () => {
        this.#timer = setTimeout(() => this.#ping(), everyMs);
        this.#ping();
      },
      Math.max(1, Math.floor(Math.random() * everyMs)),
    );
  }

  #ping(): void {
    if (this.#state !== STATE.ONLINE) return;
    this.#send(OPCODE.BINARY, PING_FRAME);
    this.#timer?.refresh();
  }

  #send(opcode: number, payload: Uint8Array): void {
    const socket = this.#socket;
    if (socket?.writable) socket.write(clientFrame(opcode, payload, this.#fleet.random.take(4)));
  }

  /** Connecting failed: the socket goes, and #onClose reports it and schedules the retry. */
  #failAttempt(reason: string): void {
    const socket = this.#socket;
    if (socket === undefined || this.#state === STATE.STOPPED) return;
    this.#failure = reason;
    socket.destroy();
  }

  #onClose(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    this.#http = undefined;
    this.#frames = undefined;
    clearTimeout(this.#timer);
    const state = this.#state;
    if (this.#counted) this.#fleet.stats.wsConnected--;
    this.#counted = false;
    if (state === STATE.STOPPED) return;
    if (state === STATE.UPGRADING || state === STATE.OPENING) {
      this.#fleet.observer.connectFailed(this, `connect: ${this.#failure ?? 'connection closed'}`);
    }
    this.#failure = undefined;
    this.#retryLater();
  }

  #retryLater(): void {
    this.#state = STATE.IDLE;
    this.#timer = setTimeout(() => this.#connect(), this.#backoff.next());
  }
}
