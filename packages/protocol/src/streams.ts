/**
 * JetStream streams, consumers, KV buckets and object stores: the single source of truth for
 * provisioning. Our own specs use milliseconds (`maxAgeMs`); `toStreamConfig`/`toConsumerConfig`
 * produce the JetStream wire shape (snake_case, durations in nanoseconds) that `jsm.streams.add()` and
 * `jsm.consumers.add()` accept. No NATS client is imported here; the runtime package makes the calls.
 */
import { PROTOCOL_ERROR, ProtocolError } from './errors.ts';
import {
  type DeviceId,
  type EdgeId,
  isSafeToken,
  parseDeviceId,
  parseEdgeId,
  parseSessionId,
  parseTenantId,
  type SessionId,
  type TenantId,
} from './ids.ts';
import { patternCovers, type Subjects, subjects as subjectsFor, UP_KIND } from './subjects.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const STREAM = {
  TELEMETRY: 'TELEMETRY',
  DEVICE_EVENTS: 'DEVICE_EVENTS',
  PRESENCE: 'PRESENCE',
  COMMANDS: 'COMMANDS',
  DISPATCH: 'DISPATCH',
  NOTIFY: 'NOTIFY',
} as const;
export type StreamKey = (typeof STREAM)[keyof typeof STREAM];

export const KV_BUCKET = { PRESENCE: 'presence', SESSIONS: 'sessions', EDGES: 'edges' } as const;
export type KvBucketKey = (typeof KV_BUCKET)[keyof typeof KV_BUCKET];

export const OBJECT_STORE = { DEVICE_LOGS: 'deviceLogs' } as const;
export type ObjectStoreKey = (typeof OBJECT_STORE)[keyof typeof OBJECT_STORE];

export type Retention = 'limits' | 'interest' | 'workqueue';
export type Storage = 'file' | 'memory';

export interface StreamSpec {
  key: StreamKey;
  name: string;
  description: string;
  subjects: string[];
  retention: Retention;
  storage: Storage;
  replicas: number;
  discard: 'old' | 'new';
  maxAgeMs: number;
  duplicateWindowMs?: number;
  maxMsgsPerSubject?: number;
}

/** Wire shape of a stream config (the fields we set). */
export interface StreamConfigWire {
  name: string;
  description: string;
  subjects: string[];
  retention: Retention;
  storage: Storage;
  num_replicas: number;
  discard: 'old' | 'new';
  max_age: number;
  duplicate_window?: number;
  max_msgs_per_subject?: number;
}

export type AckPolicy = 'explicit' | 'all' | 'none';
export type DeliverPolicy = 'all' | 'last' | 'new' | 'last_per_subject';

export interface ConsumerSpec {
  durableName: string;
  stream: StreamKey;
  streamName: string;
  description?: string;
  filterSubjects: string[];
  ackPolicy: AckPolicy;
  deliverPolicy: DeliverPolicy;
  ackWaitMs: number;
  /** -1 for unlimited. Must exceed `backoffMs.length` (NATS error 10116). */
  maxDeliver: number;
  /** Delays for ack-timeout redeliveries only (NAKs ignore backoff); the last value repeats. */
  backoffMs?: number[];
  maxAckPending: number;
}

/** Wire shape of a consumer config (the fields we set). */
export interface ConsumerConfigWire {
  durable_name: string;
  description?: string;
  ack_policy: AckPolicy;
  deliver_policy: DeliverPolicy;
  ack_wait: number;
  max_deliver: number;
  backoff?: number[];
  max_ack_pending: number;
  filter_subject?: string;
  filter_subjects?: string[];
}

export interface KvBucketSpec {
  key: KvBucketKey;
  bucket: string;
  description: string;
  history: number;
  /** Bucket max_age; absent means keys never expire. */
  ttlMs?: number;
  storage: Storage;
  replicas: number;
}

export interface ObjectStoreSpec {
  key: ObjectStoreKey;
  bucket: string;
  description: string;
  /** Objects older than this are removed by the server (the backing stream's max_age). */
  ttlMs: number;
  /** Size limit of the whole bucket; absent means unlimited. When full, new objects are refused. */
  maxBytes?: number;
  storage: Storage;
  replicas: number;
}

export interface TopologyOptions {
  /** Subject root; default `fw`. Stream and bucket names are derived from it. */
  root?: string;
  /** Default 1. */
  replicas?: number;
  /** Default `file`; tests may prefer `memory`. */
  storage?: Storage;
  /** Per-stream retention overrides. */
  maxAgeMs?: Partial<Record<StreamKey, number>>;
  /** Default 1 hour. */
  sessionTtlMs?: number;
  /** How long an edge's lease outlives its last refresh; default 30 s (edges refresh every third). */
  edgeLeaseTtlMs?: number;
  /** How long uploaded device logs are kept; default 30 days. */
  deviceLogTtlMs?: number;
  /** Size limit of the device log bucket; default unlimited. */
  deviceLogMaxBytes?: number;
}

export interface JetStreamTopology {
  root: string;
  subjects: Subjects;
  streams: Record<StreamKey, StreamSpec>;
  kv: Record<KvBucketKey, KvBucketSpec>;
  objectStores: Record<ObjectStoreKey, ObjectStoreSpec>;
  consumers: { telemetryWriter: ConsumerSpec };
}

export const DEFAULT_MAX_AGE_MS: Readonly<Record<StreamKey, number>> = {
  TELEMETRY: 7 * DAY,
  DEVICE_EVENTS: 7 * DAY,
  PRESENCE: 1 * DAY,
  COMMANDS: 7 * DAY,
  DISPATCH: 7 * DAY,
  NOTIFY: 7 * DAY,
};
/** Edges publish with a msgID, so a device retransmission inside this window is dropped by the stream. */
export const TELEMETRY_DUPLICATE_WINDOW_MS = 2 * MINUTE;
export const PRESENCE_MAX_MSGS_PER_SUBJECT = 100;
export const DEFAULT_SESSION_TTL_MS = 1 * HOUR;
export const DEFAULT_DEVICE_LOG_TTL_MS = 30 * DAY;
export const DEFAULT_EDGE_LEASE_TTL_MS = 30 * SECOND;

export const msToNanos = (ms: number): number => Math.round(ms * 1_000_000);

/** `fw` → `FW_TELEMETRY`. */
export function streamName(root: string, key: StreamKey): string {
  return `${root.toUpperCase()}_${key}`;
}

/** `fw` → `FW_presence`. */
export function kvBucketName(root: string, key: KvBucketKey): string {
  return `${root.toUpperCase()}_${key}`;
}

/** Bucket names keep the KV style (upper-case root, lower-case name): `fw` → `FW_device_logs`. */
const OBJECT_STORE_NAMES: Readonly<Record<ObjectStoreKey, string>> = { deviceLogs: 'device_logs' };

/** `fw` → `FW_device_logs`. */
export function objectStoreBucketName(root: string, key: ObjectStoreKey): string {
  return `${root.toUpperCase()}_${OBJECT_STORE_NAMES[key]}`;
}

/**
 * The stream behind an object store bucket, and the subject of one object's chunks, as the NATS
 * object store specification (ADR-20) lays them out: readers that stream an object chunk by chunk
 * (with backpressure, which the client's `get()` lacks) and tests need them.
 */
export function objectStoreStreamName(bucket: string): string {
  return `OBJ_${bucket}`;
}

export function objectChunkSubject(bucket: string, nuid: string): string {
  return `$O.${bucket}.C.${nuid}`;
}

export function jetStreamTopology(options: TopologyOptions = {}): JetStreamTopology {
  const s = subjectsFor({ root: options.root });
  const streams = streamSpecs(s, options);
  return {
    root: s.root,
    subjects: s,
    streams,
    kv: kvBucketSpecs(s.root, options),
    objectStores: objectStoreSpecs(s.root, options),
    consumers: { telemetryWriter: telemetryWriterConsumer(streams, s) },
  };
}

function streamSpecs(s: Subjects, options: TopologyOptions): Record<StreamKey, StreamSpec> {
  const base = (key: StreamKey) => ({
    key,
    name: streamName(s.root, key),
    storage: options.storage ?? 'file',
    replicas: options.replicas ?? 1,
    discard: 'old' as const,
    maxAgeMs: options.maxAgeMs?.[key] ?? DEFAULT_MAX_AGE_MS[key],
  });
  return {
    TELEMETRY: {
      ...base(STREAM.TELEMETRY),
      description: 'Device telemetry (TelemetryMessage)',
      subjects: [s.upAll(UP_KIND.TELEMETRY)],
      retention: 'limits',
      duplicateWindowMs: TELEMETRY_DUPLICATE_WINDOW_MS,
    },
    DEVICE_EVENTS: {
      ...base(STREAM.DEVICE_EVENTS),
      description: 'Device events, status, command replies and logs',
      subjects: [UP_KIND.EVENT, UP_KIND.STATUS, UP_KIND.REPLY, UP_KIND.LOG].map((kind) => s.upAll(kind)),
      retention: 'limits',
    },
    PRESENCE: {
      ...base(STREAM.PRESENCE),
      description: 'Device online/offline events (PresenceEvent)',
      subjects: [s.presenceAll()],
      retention: 'limits',
      maxMsgsPerSubject: PRESENCE_MAX_MSGS_PER_SUBJECT,
    },
    COMMANDS: {
      ...base(STREAM.COMMANDS),
      description: 'Command state changes (CommandStateChange)',
      subjects: [s.cmdAll()],
      retention: 'limits',
    },
    DISPATCH: {
      ...base(STREAM.DISPATCH),
      description: 'Command delivery work items for the command dispatcher (CommandDispatch)',
      subjects: [s.dispatchAll()],
      retention: 'workqueue',
    },
    NOTIFY: {
      ...base(STREAM.NOTIFY),
      description: 'Webhook work items for the notifier',
      subjects: [s.notifyAll()],
      retention: 'workqueue',
    },
  };
}

function kvBucketSpecs(root: string, options: TopologyOptions): Record<KvBucketKey, KvBucketSpec> {
  const base = { storage: options.storage ?? 'file', replicas: options.replicas ?? 1 } as const;
  return {
    presence: {
      ...base,
      key: KV_BUCKET.PRESENCE,
      bucket: kvBucketName(root, KV_BUCKET.PRESENCE),
      description: 'Current connection (edge, epoch) per device; updated by compare-and-set on revision',
      history: 1,
    },
    sessions: {
      ...base,
      key: KV_BUCKET.SESSIONS,
      bucket: kvBucketName(root, KV_BUCKET.SESSIONS),
      description: 'Interactive sessions; expire when not refreshed',
      history: 1,
      ttlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    },
    edges: {
      ...base,
      key: KV_BUCKET.EDGES,
      bucket: kvBucketName(root, KV_BUCKET.EDGES),
      description:
        'Edges alive: one key per edge, refreshed while it runs; an expired key means the edge is gone',
      history: 1,
      ttlMs: options.edgeLeaseTtlMs ?? DEFAULT_EDGE_LEASE_TTL_MS,
    },
  };
}

function objectStoreSpecs(root: string, options: TopologyOptions): Record<ObjectStoreKey, ObjectStoreSpec> {
  const deviceLogs: ObjectStoreSpec = {
    key: OBJECT_STORE.DEVICE_LOGS,
    bucket: objectStoreBucketName(root, OBJECT_STORE.DEVICE_LOGS),
    description: 'Log bundles uploaded by devices; indexed by the device_logs table',
    ttlMs: options.deviceLogTtlMs ?? DEFAULT_DEVICE_LOG_TTL_MS,
    storage: options.storage ?? 'file',
    replicas: options.replicas ?? 1,
  };
  if (options.deviceLogMaxBytes !== undefined) deviceLogs.maxBytes = options.deviceLogMaxBytes;
  return { deviceLogs };
}

export interface ConsumerInput {
  durableName: string;
  stream: StreamKey;
  filterSubjects: string[];
  description?: string;
  ackWaitMs?: number;
  maxDeliver?: number;
  backoffMs?: number[];
  maxAckPending?: number;
  deliverPolicy?: DeliverPolicy;
}

/**
 * Builds a durable pull consumer spec and rejects what the server would reject: filters outside
 * the stream, max_deliver ≤ backoff length, non-`all` delivery on a work queue.
 */
export function consumerSpec(streams: Record<StreamKey, StreamSpec>, input: ConsumerInput): ConsumerSpec {
  const invalid = (message: string): never => {
    throw new ProtocolError(PROTOCOL_ERROR.INVALID_CONFIG, `consumer ${input.durableName}: ${message}`);
  };
  const stream = Object.hasOwn(streams, input.stream)
    ? streams[input.stream]
    : invalid(`unknown stream ${input.stream}`);
  if (!isSafeToken(input.durableName)) invalid('durable name must be a safe token');
  if (input.filterSubjects.length === 0) invalid('needs at least one filter subject');
  for (const filter of input.filterSubjects) {
    if (!stream.subjects.some((subject) => patternCovers(subject, filter))) {
      invalid(`filter ${filter} is outside stream ${stream.name}`);
    }
  }
  const spec: ConsumerSpec = {
    durableName: input.durableName,
    stream: input.stream,
    streamName: stream.name,
    filterSubjects: [...input.filterSubjects],
    ackPolicy: 'explicit',
    deliverPolicy: input.deliverPolicy ?? 'all',
    ackWaitMs: input.ackWaitMs ?? 30 * SECOND,
    maxDeliver: input.maxDeliver ?? -1,
    maxAckPending: input.maxAckPending ?? 1000,
  };
  if (input.description !== undefined) spec.description = input.description;
  if (input.backoffMs !== undefined) spec.backoffMs = [...input.backoffMs];
  if (spec.ackWaitMs <= 0) invalid('ack wait must be positive');
  if (spec.backoffMs && spec.maxDeliver !== -1 && spec.maxDeliver <= spec.backoffMs.length) {
    invalid('max_deliver must be greater than the number of backoff values');
  }
  if (stream.retention === 'workqueue' && spec.deliverPolicy !== 'all')
    invalid('work-queue consumers must deliver all');
  return spec;
}

/** The telemetry writer's durable consumer: all tenants' telemetry, batched writes to Postgres. */
function telemetryWriterConsumer(streams: Record<StreamKey, StreamSpec>, s: Subjects): ConsumerSpec {
  return consumerSpec(streams, {
    durableName: 'telemetry-writer',
    stream: STREAM.TELEMETRY,
    description: 'Writes telemetry to the database',
    filterSubjects: [s.upAll(UP_KIND.TELEMETRY)],
    // Short, so a crashed writer's batches come back quickly; a live writer extends it while retrying.
    ackWaitMs: 10 * SECOND,
    maxAckPending: 20_000,
  });
}

export function toStreamConfig(spec: StreamSpec): StreamConfigWire {
  const config: StreamConfigWire = {
    name: spec.name,
    description: spec.description,
    subjects: [...spec.subjects],
    retention: spec.retention,
    storage: spec.storage,
    num_replicas: spec.replicas,
    discard: spec.discard,
    max_age: msToNanos(spec.maxAgeMs),
  };
  if (spec.duplicateWindowMs !== undefined) config.duplicate_window = msToNanos(spec.duplicateWindowMs);
  if (spec.maxMsgsPerSubject !== undefined) config.max_msgs_per_subject = spec.maxMsgsPerSubject;
  return config;
}

/** A single filter uses `filter_subject`, which servers older than 2.10 also understand. */
export function toConsumerConfig(spec: ConsumerSpec): ConsumerConfigWire {
  const config: ConsumerConfigWire = {
    durable_name: spec.durableName,
    ack_policy: spec.ackPolicy,
    deliver_policy: spec.deliverPolicy,
    ack_wait: msToNanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    max_ack_pending: spec.maxAckPending,
  };
  if (spec.description !== undefined) config.description = spec.description;
  if (spec.backoffMs !== undefined) config.backoff = spec.backoffMs.map(msToNanos);
  if (spec.filterSubjects.length === 1) config.filter_subject = spec.filterSubjects[0]!;
  else config.filter_subjects = [...spec.filterSubjects];
  return config;
}

/** Options for `Kvm.create(spec.bucket, …)` of @nats-io/kv, where `ttl` is in milliseconds. */
export interface KvCreateOptions {
  description: string;
  history: number;
  ttl?: number;
  storage: Storage;
  replicas: number;
}

export function toKvOptions(spec: KvBucketSpec): KvCreateOptions {
  const options: KvCreateOptions = {
    description: spec.description,
    history: spec.history,
    storage: spec.storage,
    replicas: spec.replicas,
  };
  if (spec.ttlMs !== undefined) options.ttl = spec.ttlMs;
  return options;
}

/** Options for `Objm.create(spec.bucket, …)` of @nats-io/obj, where `ttl` is in nanoseconds (unlike KV). */
export interface ObjectStoreCreateOptions {
  description: string;
  ttl: number;
  storage: Storage;
  replicas: number;
  max_bytes?: number;
}

export function toObjectStoreOptions(spec: ObjectStoreSpec): ObjectStoreCreateOptions {
  const options: ObjectStoreCreateOptions = {
    description: spec.description,
    ttl: msToNanos(spec.ttlMs),
    storage: spec.storage,
    replicas: spec.replicas,
  };
  if (spec.maxBytes !== undefined) options.max_bytes = spec.maxBytes;
  return options;
}

/**
 * KV keys are subject tokens too (`$KV.<bucket>.<key>`), so they are built here: tenant first,
 * so `watch({ key: '<tenant>.>' })` sees exactly one tenant.
 */
export function presenceKey(tenant: TenantId, deviceId: DeviceId): string {
  return `${parseTenantId(tenant)}.${parseDeviceId(deviceId)}`;
}

export function edgeLeaseKey(edgeId: EdgeId): string {
  return parseEdgeId(edgeId);
}

export function sessionKey(tenant: TenantId, sessionId: SessionId): string {
  return `${parseTenantId(tenant)}.${parseSessionId(sessionId)}`;
}
