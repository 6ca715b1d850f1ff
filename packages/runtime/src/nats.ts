import { objectStoreStreamName } from '@fleetwire/protocol';
import {
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KvOptions } from '@nats-io/kv';
import { type ObjectStoreOptions, Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger.ts';

export const MIN_NATS_VERSION = '2.10.0';

export type StreamDefinition = Partial<StreamConfig> & { name: string; subjects: string[] };
export interface ConsumerDefinition {
  stream: string;
  config: Partial<ConsumerConfig> & { durable_name: string };
}
export interface KvDefinition {
  bucket: string;
  options: Partial<KvOptions>;
}
export interface ObjectStoreDefinition {
  bucket: string;
  /** `ttl` in nanoseconds, as @nats-io/obj takes it. */
  options: Partial<ObjectStoreOptions>;
}
/** Everything a service asks to exist in JetStream before it starts. */
export interface Provisioning {
  streams?: readonly StreamDefinition[];
  consumers?: readonly ConsumerDefinition[];
  kv?: readonly KvDefinition[];
  objectStores?: readonly ObjectStoreDefinition[];
}

/**
 * Server features the v3 client does not gate itself: below 2.11 these calls are accepted and silently
 * do the wrong thing (term reasons are ignored and the message is redelivered; message and KV marker
 * TTLs are dropped). Code asks here instead of calling them blindly.
 */
export interface NatsFeatures {
  readonly version: string;
  readonly termWithReason: boolean;
  readonly messageTtl: boolean;
  readonly kvMarkerTtl: boolean;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export function featuresOf(version: string): NatsFeatures {
  const at211 = compareVersions(version, '2.11.0') >= 0;
  return { version, termWithReason: at211, messageTtl: at211, kvMarkerTtl: at211 };
}

export class NatsVersionError extends Error {
  constructor(version: string) {
    super(`nats-server ${version} is too old: fleetwire needs ${MIN_NATS_VERSION} or newer`);
    this.name = 'NatsVersionError';
  }
}

export interface NatsHandle {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  features: NatsFeatures;
}

export async function connectNats(url: string, name: string, log: Logger): Promise<NatsHandle> {
  const nc = await connect({
    servers: url.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    pingInterval: 20_000,
    // Otherwise every request (and every JetStream API call) builds an Error with a stack up front,
    // just in case it fails: a few percent of the CPU of a service that asks an edge per command.
    noAsyncTraces: true,
  });
  const version = nc.info?.version ?? '0.0.0';
  if (compareVersions(version, MIN_NATS_VERSION) < 0) {
    await nc.close();
    throw new NatsVersionError(version);
  }
  watchStatus(nc, log);
  const jsm = await jetstreamManager(nc, { checkAPI: true });
  return { nc, js: jetstream(nc), jsm, features: featuresOf(version) };
}

/** The part of nats.js's protocol handler that coalesceSocketWrites rewires (nats-core 3.x). */
interface ProtocolInternals {
  flushPending(): void;
  close(err?: Error): Promise<void>;
}

/**
 * Makes the connection write to its socket at most once per event-loop turn instead of once per
 * microtask checkpoint. nats.js flushes its outbound buffer in a microtask after the first command,
 * so every I/O callback that acks, publishes or requests (one per HTTP response, PubAck, PostgreSQL
 * result...) costs its own write syscall — and one read on the server's side; in a service that
 * handles many small callbacks per second these writes are the largest single CPU item. Deferred to
 * setImmediate, everything a turn produces leaves in one write, at the cost of up to one turn of
 * latency. Opt-in per connection. `nc.flush()`/`drain()` still work (their PING goes through the
 * same buffer), and `close()` writes what is pending first.
 */
export function coalesceSocketWrites(nc: NatsConnection): void {
  const protocol = (nc as unknown as { protocol: ProtocolInternals }).protocol;
  const flushNow = protocol.flushPending.bind(protocol);
  const close = protocol.close.bind(protocol);
  const contributors = new Set<() => void>();
  CONTRIBUTORS.set(nc, contributors);
  let scheduled = false;
  protocol.flushPending = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      for (const append of contributors) append();
      flushNow();
      // Reset after the microtask nats.js queued when a contributor appended to an empty buffer:
      // that flush request is already served by this write and must not schedule another.
      queueMicrotask(() => {
        scheduled = false;
      });
    });
  };
  protocol.close = (err?: Error) => {
    for (const append of contributors) append();
    flushNow();
    return close(err);
  };
}

/** Per connection whose writes are coalesced: what appends its commands right before each write. */
const CONTRIBUTORS = new WeakMap<NatsConnection, Set<() => void>>();

/** A writer of its own protocol commands that hands them over in a coalesced connection's write. */
export interface SocketWriteShare {
  /** Asks for the connection's next write; `append` runs right before it. */
  schedule(): void;
  leave(): void;
}

/**
 * Lets a component that buffers protocol commands of its own (the publisher's frames) hand them
 * over at the connection's coalesced write instead of deferring them a turn of its own first, which
 * would cost another turn before the write. Undefined when `nc`'s writes are not coalesced.
 */
export function shareSocketWrites(nc: NatsConnection, append: () => void): SocketWriteShare | undefined {
  const contributors = CONTRIBUTORS.get(nc);
  if (!contributors) return undefined;
  const protocol = (nc as unknown as { protocol: ProtocolInternals }).protocol;
  contributors.add(append);
  return { schedule: () => protocol.flushPending(), leave: () => contributors.delete(append) };
}

function watchStatus(nc: NatsConnection, log: Logger): void {
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') log.warn({ server: s.server }, 'NATS disconnected');
      else if (s.type === 'reconnect') log.info({ server: s.server }, 'NATS reconnected');
      else if (s.type === 'error') log.error({ err: s.error }, 'NATS error');
    }
  })().catch(() => {});
}

/** Creates or updates every stream, consumer, bucket and object store; safe to run from many instances at once. */
export async function provision(h: NatsHandle, what: Provisioning, log: Logger): Promise<void> {
  for (const stream of what.streams ?? []) await ensureStream(h.jsm, stream, log);
  for (const consumer of what.consumers ?? []) await ensureConsumer(h.jsm, consumer, log);
  const kvm = new Kvm(h.js);
  for (const { bucket, options } of what.kv ?? []) {
    if (options.markerTTL !== undefined && !h.features.kvMarkerTtl) {
      throw new Error(
        `KV bucket ${bucket} asks for markerTTL, which nats-server ${h.features.version} ignores`,
      );
    }
    await kvm.create(bucket, options);
    await convergeKvTtl(h, bucket, options.ttl ?? 0, log);
  }
  for (const store of what.objectStores ?? []) await ensureObjectStore(h, store, log);
}

/** `Kvm.create` leaves an existing bucket as it is: a changed TTL is applied here. */
async function convergeKvTtl(h: NatsHandle, bucket: string, ttlMs: number, log: Logger): Promise<void> {
  const stream = `KV_${bucket}`;
  const { config } = await h.jsm.streams.info(stream);
  const wanted = ttlMs * 1_000_000;
  if (config.max_age === wanted) return;
  // The server refuses a duplicate window longer than the max age (KV buckets set it to the TTL).
  const duplicateWindow = wanted === 0 ? config.duplicate_window : Math.min(config.duplicate_window, wanted);
  await h.jsm.streams.update(stream, { ...config, max_age: wanted, duplicate_window: duplicateWindow });
  log.info({ bucket, ttlMs }, 'KV bucket TTL updated');
}

/**
 * `Objm.create` adds the bucket's stream when it is missing (concurrent adds of the same config
 * succeed) but leaves an existing one as it is, so a changed TTL, size limit or description is
 * applied here, as `ensureStream` does for streams.
 */
async function ensureObjectStore(h: NatsHandle, def: ObjectStoreDefinition, log: Logger): Promise<void> {
  const stream = objectStoreStreamName(def.bucket);
  const existing = await h.jsm.streams.info(stream).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  // create() deletes keys from the options it is given: hand it a copy.
  await new Objm(h.js).create(def.bucket, { ...def.options });
  if (!existing) {
    log.info({ bucket: def.bucket }, 'object store created');
    return;
  }
  const wanted = {
    max_age: def.options.ttl ?? 0,
    max_bytes: def.options.max_bytes ?? -1,
    description: def.options.description ?? existing.config.description,
  };
  const current = existing.config;
  if (
    current.max_age === wanted.max_age &&
    current.max_bytes === wanted.max_bytes &&
    current.description === wanted.description
  ) {
    return;
  }
  await h.jsm.streams.update(stream, { ...current, ...wanted });
  log.info({ bucket: def.bucket }, 'object store updated');
}

async function ensureStream(jsm: JetStreamManager, def: StreamDefinition, log: Logger): Promise<void> {
  try {
    await jsm.streams.info(def.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(def);
      log.info({ stream: def.name }, 'stream created');
      return;
    } catch (addErr) {
      // Another instance created it between our info() and add(): fall through to update.
      if (!/already in use|exists/i.test(String(addErr))) throw addErr;
    }
  }
  const { name, ...rest } = def;
  await jsm.streams.update(name, rest);
}

async function ensureConsumer(jsm: JetStreamManager, def: ConsumerDefinition, log: Logger): Promise<void> {
  const durable = def.config.durable_name;
  try {
    await jsm.consumers.info(def.stream, durable);
    const { durable_name: _d, deliver_policy: _p, ...mutable } = def.config;
    await jsm.consumers.update(def.stream, durable, mutable);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(def.stream, def.config);
    log.info({ stream: def.stream, consumer: durable }, 'consumer created');
  }
}

function isNotFound(err: unknown): boolean {
  const name = (err as Error | undefined)?.name ?? '';
  return name === 'StreamNotFoundError' || name === 'ConsumerNotFoundError' || /not found/i.test(String(err));
}

/** term() that never sends a reason to a server that would ignore the whole term because of it. */
export function terminate(msg: JsMsg, features: NatsFeatures, reason: string, log: Logger): void {
  log.warn({ stream: msg.info.stream, seq: msg.info.streamSequence, reason }, 'message terminated');
  if (features.termWithReason) msg.term(reason);
  else msg.term();
}
