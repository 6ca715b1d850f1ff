import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { type SocketWriteShare, shareSocketWrites } from './nats.ts';
import { PublishFrames } from './publish-frames.ts';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export class PublishError extends Error {
  readonly code: 'TIMEOUT' | 'NO_STREAM' | 'REJECTED' | 'CLOSED';
  constructor(code: PublishError['code'], message: string) {
    super(message);
    this.name = 'PublishError';
    this.code = code;
  }
}

/**
 * Called exactly once per publish: with the PubAck, or with the error. It runs inside the NATS
 * subscription callback or a timer, so it must not throw.
 */
export type PublishCallback = (err: Error | undefined, ack: PubAck | undefined) => void;

interface Pending {
  done: PublishCallback;
  sentAt: number;
}

interface Outgoing {
  token: number;
  subject: string;
  data: Uint8Array;
  headers: ReturnType<typeof headers> | undefined;
}

/**
 * Pipelined JetStream publishing: core publishes whose reply subject is one shared wildcard inbox,
 * with PubAcks matched by token. Many publishes are in flight at once and none waits for another,
 * which is several times faster from Node than awaiting js.publish() per message.
 */
/** With lingerMs, a batch this large is sent at the end of the turn without waiting for the timer. */
const LINGER_MAX_BATCH = 256;

/**
 * The part of nats.js's protocol handler (nats-core 3.x) that frames are handed to: `sendCommand`
 * queues bytes exactly where `publish` queues its own, so ordering, reconnect buffering and the
 * flush are nats.js's. Checked at construction; without it the publisher uses `nc.publish`.
 */
interface ProtocolHandle {
  sendCommand(bytes: Uint8Array): void;
  outMsgs: number;
  outBytes: number;
  noMorePublishing: boolean;
  info?: { max_payload?: number };
}

function protocolOf(nc: NatsConnection): ProtocolHandle | undefined {
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolHandle> }).protocol;
  if (
    typeof protocol?.sendCommand !== 'function' ||
    typeof protocol.outMsgs !== 'number' ||
    typeof protocol.outBytes !== 'number' ||
    typeof protocol.noMorePublishing !== 'boolean'
  ) {
    return undefined;
  }
  return protocol as ProtocolHandle;
}

export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #timer: NodeJS.Timeout;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  #next = 0;
  #waiters: Array<() => void> = [];
  #closed = false;
  /** Publishes waiting for the end of this event-loop turn (coalesceWrites only). */
  #outbox: Outgoing[] = [];
  /**
   * With coalesceWrites, publishes are written as protocol frames into one buffer instead
   * (see PublishFrames), when the connection's protocol handler is the one this was written for.
   */
  readonly #frames: PublishFrames | undefined;
  readonly #protocol: ProtocolHandle | undefined;
  /** `<inbox prefix>.` as bytes: the reply subject of a frame is this and the token. */
  readonly #replyPrefix: Uint8Array;
  readonly #coalesce: boolean;
  readonly #lingerMs: number;
  /** Frames handed over at the connection's own coalesced write (coalesceSocketWrites), if it has one. */
  readonly #share: SocketWriteShare | undefined;

  /**
   * `coalesceWrites`: hand publishes to the connection once per event-loop turn (setImmediate)
   * instead of at once. A caller publishing from many I/O callbacks (one per device packet) then
   * causes one socket write per turn instead of one per callback; on a busy edge that write is the
   * dominant cost. Costs at most one turn of latency. On a connection whose writes are coalesced
   * already (coalesceSocketWrites) the frames join that write instead of waiting a turn of their own.
   *
   * `lingerMs` (with coalesceWrites): wait that long (a timer) instead of one turn before handing the
   * outbox over, so that publishes of several turns share one write, unless LINGER_MAX_BATCH publishes
   * are waiting already. Fewer, larger writes cost the caller and nats-server less per message (each
   * write is a syscall here and a read plus a PubAck write there); every publish waits up to that long.
   */
  constructor(
    nc: NatsConnection,
    opts: { timeoutMs?: number; maxInFlight?: number; coalesceWrites?: boolean; lingerMs?: number } = {},
  ) {
    this.#nc = nc;
    this.#coalesce = opts.coalesceWrites ?? false;
    this.#lingerMs = opts.lingerMs ?? 0;
    this.#prefix = createInbox();
    this.#replyPrefix = Buffer.from(`${this.#prefix}.`);
    this.#protocol = this.#coalesce ? protocolOf(nc) : undefined;
    this.#frames = this.#protocol ? new PublishFrames() : undefined;
    this.#share =
      this.#frames && this.#lingerMs === 0 ? shareSocketWrites(nc, () => this.#flushOutbox()) : undefined;
    this.#timeoutMs = opts.timeoutMs ?? 5_000;
    this.#maxInFlight = opts.maxInFlight ?? 10_000;
    this.#sub = nc.subscribe(`${this.#prefix}.*`, { callback: (_err, msg) => this.#onAck(msg) });
    this.#timer = setInterval(() => this.#expire(), Math.min(250, this.#timeoutMs / 2));
    this.#timer.unref();
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  async publish(subject: string, data: Uint8Array, opts: { msgId?: string } = {}): Promise<PubAck> {
    if (this.#closed) throw new PublishError('CLOSED', 'publisher closed');
    return new Promise<PubAck>((resolve, reject) => {
      this.send(subject, data, opts.msgId, (err, ack) => (err ? reject(err) : resolve(ack!)));
    });
  }

  /**
   * `publish` without a promise: `done` is called once, with the PubAck or the error (never
   * synchronously). For callers that publish per device packet, where a promise (and the closures
   * chained to it) per message was a visible share of the edge's CPU.
   */
  send(subject: string, data: Uint8Array, msgId: string | undefined, done: PublishCallback): void {
    if (this.#closed) {
      queueMicrotask(() => done(new PublishError('CLOSED', 'publisher closed'), undefined));
      return;
    }
    if (this.#pending.size >= this.#maxInFlight) {
      this.#waiters.push(() => this.send(subject, data, msgId, done));
      return;
    }
    const token = this.#next++;
    this.#pending.set(token, { done, sentAt: Date.now() });
    if (this.#frames) {
      this.#addFrame(token, subject, data, msgId);
      return;
    }
    const h = msgIdHeaders(msgId);
    if (!this.#coalesce) {
      this.#send({ token, subject, data, headers: h });
      return;
    }
    this.#outbox.push({ token, subject, data, headers: h });
    this.#scheduleFlush();
  }

  #addFrame(token: number, subject: string, data: Uint8Array, msgId: string | undefined): void {
    const maxPayload = this.#protocol!.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const problem = this.#frames!.add(subject, this.#replyPrefix, token, data, msgId, maxPayload);
    if (problem === undefined) {
      this.#scheduleFlush();
      return;
    }
    const p = this.#settle(token);
    if (p) queueMicrotask(() => p.done(new PublishError('REJECTED', problem), undefined));
  }

  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;

  #scheduleFlush(): void {
    if (this.#share) {
      this.#share.schedule();
      return;
    }
    if (this.#flushImmediate) return;
    const waiting = this.#frames ? this.#frames.count : this.#outbox.length;
    if (this.#lingerMs > 0 && waiting < LINGER_MAX_BATCH) {
      this.#flushTimer ??= setTimeout(() => this.#flushOutbox(), this.#lingerMs);
      return;
    }
    this.#flushImmediate = setImmediate(() => this.#flushOutbox());
  }

  #flushOutbox(): void {
    clearTimeout(this.#flushTimer);
    clearImmediate(this.#flushImmediate);
    this.#flushTimer = undefined;
    this.#flushImmediate = undefined;
    if (this.#frames) {
      this.#flushFrames(this.#frames, this.#protocol!);
      return;
    }
    const outbox = this.#outbox;
    this.#outbox = [];
    // A publish that timed out or was closed meanwhile is no longer pending: do not send it.
    for (const out of outbox) if (this.#pending.has(out.token)) this.#send(out);
  }

  #flushFrames(frames: PublishFrames, protocol: ProtocolHandle): void {
    if (this.#nc.isClosed() || protocol.noMorePublishing) {
      // What nc.publish would have thrown: the callers hear it now instead of timing out. The
      // frames are dropped first: settling one lets a waiting publish in, which adds a new frame.
      const tokens = [...frames.tokens];
      frames.take(() => false);
      for (const token of tokens) {
        const p = this.#settle(token);
        if (p)
          queueMicrotask(() =>
            p.done(new PublishError('CLOSED', 'connection closed or draining'), undefined),
          );
      }
      return;
    }
    // A publish that timed out or was closed meanwhile is no longer pending: do not send it.
    const taken = frames.take((token) => this.#pending.has(token));
    if (!taken) return;
    protocol.outMsgs += taken.messages;
    protocol.outBytes += taken.bytes.length;
    protocol.sendCommand(taken.bytes);
  }

  #send(out: Outgoing): void {
    try {
      this.#nc.publish(out.subject, out.data, {
        reply: `${this.#prefix}.${out.token}`,
        headers: out.headers,
      });
    } catch (err) {
      // Not from inside send(): the caller gets its error on a later tick, like any other.
      const p = this.#settle(out.token);
      if (p) queueMicrotask(() => p.done(err as Error, undefined));
    }
  }

  #settle(token: number): Pending | undefined {
    const p = this.#pending.get(token);
    if (!p) return undefined;
    this.#pending.delete(token);
    this.#waiters.shift()?.();
    return p;
  }

  #onAck(msg: Msg): void {
    const token = this.#tokenOf(msg);
    const p = this.#settle(token);
    if (!p) return; // already timed out
    if (msg.headers?.code === 503) {
      p.done(new PublishError('NO_STREAM', 'no JetStream stream captures this subject'), undefined);
      return;
    }
    const ack = readPubAck(msg.data);
    if (ack instanceof PublishError) p.done(ack, undefined);
    else p.done(undefined, ack);
  }

  /**
   * The token at the end of the reply subject, read from the subject's bytes where nats.js keeps
   * them (decoding the subject to a string per PubAck showed in the edge's profile).
   */
  #tokenOf(msg: Msg): number {
    const raw = (msg as unknown as { _msg?: { subject?: unknown } })._msg?.subject;
    if (raw instanceof Uint8Array && raw.length > this.#replyPrefix.length) {
      const token = readDecimal(raw, this.#replyPrefix.length);
      if (token >= 0) return token;
    }
    return Number(msg.subject.slice(this.#prefix.length + 1));
  }

  #expire(): void {
    const cutoff = Date.now() - this.#timeoutMs;
    // Map iteration is insertion order, so the oldest come first.
    for (const [token, p] of this.#pending) {
      if (p.sentAt > cutoff) break;
      this.#settle(token);
      p.done(new PublishError('TIMEOUT', `no PubAck within ${this.#timeoutMs} ms`), undefined);
    }
  }

  /** Waits (bounded) for in-flight publishes, then stops. */
  async close(waitMs = 5_000): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (this.#pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.#closed = true;
    this.#share?.leave();
    clearInterval(this.#timer);
    this.#sub.unsubscribe();
    for (const [token, p] of this.#pending) {
      this.#settle(token);
      p.done(new PublishError('CLOSED', 'publisher closed'), undefined);
    }
    // Publishes still waiting for room now fail as closed instead of hanging.
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

function msgIdHeaders(msgId: string | undefined): ReturnType<typeof headers> | undefined {
  if (!msgId) return undefined;
  const h = headers();
  h.set('Nats-Msg-Id', msgId);
  return h;
}

/** The non-negative integer written from `at` to the end of `bytes`, or -1 if that is not one. */
function readDecimal(bytes: Uint8Array, at: number): number {
  if (at >= bytes.length || bytes.length - at > 15) return -1;
  let value = 0;
  for (let i = at; i < bytes.length; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * A PubAck from its bytes. The shapes nats-server writes, `{"stream":"S", "seq":N}` with an optional
 * `,"duplicate": true` (spaces optional), are read in place; anything else (an error, a domain, an
 * escaped name) goes through JSON.parse. This was a TextDecoder and a JSON.parse per published message.
 */
export function readPubAck(data: Uint8Array): PubAck | PublishError {
  return readCommonPubAck(data) ?? parsePubAck(data);
}

const STREAM_PREFIX = Buffer.from('{"stream":"');
const SEQ_KEY = Buffer.from('"seq":');
const DUPLICATE_KEY = Buffer.from('"duplicate":');
const TRUE = Buffer.from('true');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const SPACE = 0x20;
const CLOSE_BRACE = 0x7d;

function readCommonPubAck(data: Uint8Array): PubAck | undefined {
  if (!startsWith(data, STREAM_PREFIX, 0)) return undefined;
  let at = STREAM_PREFIX.length;
  const stream = readStreamName(data, at);
  if (stream === undefined) return undefined;
  at = expectKey(data, at + stream.length + 1, SEQ_KEY);
  if (stream === '' || at < 0) return undefined;
  let seq = 0;
  const digitsFrom = at;
  for (; at < data.length && data[at]! >= 0x30 && data[at]! <= 0x39; at++) seq = seq * 10 + data[at]! - 0x30;
  if (at === digitsFrom || at - digitsFrom > 15) return undefined;
  if (at === data.length - 1 && data[at] === CLOSE_BRACE) return { stream, seq, duplicate: false };
  at = expectKey(data, at, DUPLICATE_KEY);
  if (at < 0 || !startsWith(data, TRUE, at)) return undefined;
  at += TRUE.length;
  return at === data.length - 1 && data[at] === CLOSE_BRACE ? { stream, seq, duplicate: true } : undefined;
}

/** The last stream name read: a publisher's acks nearly all name the same stream. */
let lastStream = '';
let lastStreamBytes: Uint8Array = new Uint8Array(0);

/** The plain ASCII name from `from` to the next quote (undefined if escaped, non-ASCII or unclosed). */
function readStreamName(data: Uint8Array, from: number): string | undefined {
  const end = data.indexOf(QUOTE, from);
  if (end < 0) return undefined;
  const length = end - from;
  if (length === lastStreamBytes.length && startsWith(data, lastStreamBytes, from)) return lastStream;
  let name = '';
  for (let at = from; at < end; at++) {
    const c = data[at]!;
    if (c === BACKSLASH || c >= 0x80) return undefined;
    name += String.fromCharCode(c);
  }
  lastStream = name;
  // A copy (Uint8Array's slice; a Buffer's slice() would be a view of the connection's read buffer).
  lastStreamBytes = Uint8Array.prototype.slice.call(data, from, end);
  return name;
}

/** `,` then `key` (both may be followed by spaces): the offset after them, or -1. */
function expectKey(data: Uint8Array, at: number, key: Uint8Array): number {
  if (data[at] !== COMMA) return -1;
  at = skipSpaces(data, at + 1);
  if (!startsWith(data, key, at)) return -1;
  return skipSpaces(data, at + key.length);
}

function skipSpaces(data: Uint8Array, at: number): number {
  while (data[at] === SPACE) at++;
  return at;
}

function startsWith(data: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (at + prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[at + i] !== prefix[i]) return false;
  return true;
}

const utf8 = new TextDecoder();

function parsePubAck(data: Uint8Array): PubAck | PublishError {
  try {
    const body = JSON.parse(utf8.decode(data)) as {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: { description?: string };
    };
    if (body.error || body.stream === undefined) {
      return new PublishError('REJECTED', body.error?.description ?? 'publish rejected');
    }
    return { stream: body.stream, seq: body.seq ?? 0, duplicate: body.duplicate === true };
  } catch {
    return new PublishError('REJECTED', 'unreadable PubAck');
  }
}
