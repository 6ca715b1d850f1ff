import { describe, expect, it } from 'vitest';
import {
  consumerSpec,
  jetStreamTopology,
  objectChunkSubject,
  objectStoreStreamName,
  parseDeviceId,
  parseTenantId,
  presenceKey,
  STREAM,
  type StreamKey,
  sessionKey,
  subjectMatches,
  toConsumerConfig,
  toKvOptions,
  toObjectStoreOptions,
  toStreamConfig,
  UP_KIND,
} from '../src/index.ts';

const NS_PER_MS = 1_000_000;
const DAY_MS = 86_400_000;

/** Two patterns overlap when some concrete subject matches both. */
function overlaps(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === '>' || y[i] === '>') return x[i] !== undefined && y[i] !== undefined;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return true;
}

describe('jetStreamTopology', () => {
  const topology = jetStreamTopology();
  const { streams, subjects: s } = topology;

  it('derives names from the root', () => {
    expect(Object.values(streams).map((stream) => stream.name)).toEqual([
      'FW_TELEMETRY',
      'FW_DEVICE_EVENTS',
      'FW_PRESENCE',
      'FW_COMMANDS',
      'FW_DISPATCH',
      'FW_NOTIFY',
    ]);
    const other = jetStreamTopology({ root: 't1a2' });
    expect(other.streams.TELEMETRY.name).toBe('T1A2_TELEMETRY');
    expect(other.streams.TELEMETRY.subjects).toEqual(['t1a2.*.up.*.telemetry']);
    expect(other.kv.presence.bucket).toBe('T1A2_presence');
    expect(other.kv.sessions.bucket).toBe('T1A2_sessions');
    expect(other.objectStores.deviceLogs.bucket).toBe('T1A2_device_logs');
  });

  it('routes every published subject to exactly one stream', () => {
    const tenant = parseTenantId('acme');
    const device = parseDeviceId('356307042441013');
    const expected: [string, StreamKey][] = [
      [s.up(tenant, device, UP_KIND.TELEMETRY), STREAM.TELEMETRY],
      [s.up(tenant, device, UP_KIND.EVENT), STREAM.DEVICE_EVENTS],
      [s.up(tenant, device, UP_KIND.STATUS), STREAM.DEVICE_EVENTS],
      [s.up(tenant, device, UP_KIND.REPLY), STREAM.DEVICE_EVENTS],
      [s.up(tenant, device, UP_KIND.LOG), STREAM.DEVICE_EVENTS],
      [s.presence(tenant, device), STREAM.PRESENCE],
      [s.cmd(tenant, device, 'completed'), STREAM.COMMANDS],
      [s.notify(tenant, 'device.offline'), STREAM.NOTIFY],
    ];
    for (const [subject, key] of expected) {
      const owners = Object.values(streams).filter((stream) =>
        stream.subjects.some((p) => subjectMatches(p, subject)),
      );
      expect(
        owners.map((stream) => stream.key),
        subject,
      ).toEqual([key]);
    }
  });

  it('keeps core-NATS traffic out of every stream', () => {
    const tenant = parseTenantId('acme');
    const device = parseDeviceId('d1');
    const coreOnly = [
      s.down(tenant, device),
      s.session(tenant, 'sid-1' as never, 'to-device'),
      s.edgeCtl(tenant, 'e1' as never),
    ];
    for (const subject of coreOnly) {
      for (const stream of Object.values(streams))
        expect(stream.subjects.some((p) => subjectMatches(p, subject))).toBe(false);
    }
  });

  it('has no overlapping stream subjects (the server would refuse them)', () => {
    const all = Object.values(streams).flatMap((stream) =>
      stream.subjects.map((subject) => ({ stream: stream.key, subject })),
    );
    for (const a of all) {
      for (const b of all)
        if (a !== b) expect(overlaps(a.subject, b.subject), `${a.subject} / ${b.subject}`).toBe(false);
    }
  });

  it('converts to the JetStream wire shape in nanoseconds', () => {
    expect(toStreamConfig(streams.TELEMETRY)).toEqual({
      name: 'FW_TELEMETRY',
      description: expect.any(String),
      subjects: ['fw.*.up.*.telemetry'],
      retention: 'limits',
      storage: 'file',
      num_replicas: 1,
      discard: 'old',
      max_age: 7 * DAY_MS * NS_PER_MS,
      duplicate_window: 2 * 60_000 * NS_PER_MS,
    });
    expect(toStreamConfig(streams.PRESENCE)).toMatchObject({
      max_age: DAY_MS * NS_PER_MS,
      max_msgs_per_subject: 100,
    });
    expect(toStreamConfig(streams.NOTIFY)).toMatchObject({
      retention: 'workqueue',
      subjects: ['fw.*.notify.>'],
    });
    expect(toStreamConfig(streams.DEVICE_EVENTS).subjects).toEqual([
      'fw.*.up.*.event',
      'fw.*.up.*.status',
      'fw.*.up.*.reply',
      'fw.*.up.*.log',
    ]);
  });

  it('takes overrides', () => {
    const custom = jetStreamTopology({
      maxAgeMs: { TELEMETRY: DAY_MS },
      replicas: 3,
      storage: 'memory',
      sessionTtlMs: 1000,
    });
    expect(toStreamConfig(custom.streams.TELEMETRY)).toMatchObject({
      max_age: DAY_MS * NS_PER_MS,
      num_replicas: 3,
      storage: 'memory',
    });
    expect(custom.streams.COMMANDS.maxAgeMs).toBe(7 * DAY_MS);
    expect(toKvOptions(custom.kv.sessions)).toMatchObject({
      ttl: 1000,
      history: 1,
      replicas: 3,
      storage: 'memory',
    });
  });

  it('declares the telemetry writer consumer', () => {
    expect(toConsumerConfig(topology.consumers.telemetryWriter)).toEqual({
      durable_name: 'telemetry-writer',
      description: expect.any(String),
      ack_policy: 'explicit',
      deliver_policy: 'all',
      ack_wait: 10_000 * NS_PER_MS,
      max_deliver: -1,
      max_ack_pending: 20_000,
      filter_subject: 'fw.*.up.*.telemetry',
    });
  });

  it('builds KV keys tenant first, from validated ids', () => {
    expect(presenceKey(parseTenantId('acme'), parseDeviceId('356307042441013'))).toBe('acme.356307042441013');
    expect(sessionKey(parseTenantId('acme'), 'sid-1' as never)).toBe('acme.sid-1');
    expect(() => presenceKey('a.b' as never, parseDeviceId('d'))).toThrow(
      expect.objectContaining({ code: 'INVALID_ID' }),
    );
  });

  it('declares the KV buckets', () => {
    expect(topology.kv.presence).toMatchObject({ bucket: 'FW_presence', history: 1 });
    expect(topology.kv.presence.ttlMs).toBeUndefined();
    expect(toKvOptions(topology.kv.sessions)).toMatchObject({ ttl: 3_600_000, history: 1 });
  });

  it('declares the device log object store: 30 days, no size limit, in the KV naming style', () => {
    const spec = topology.objectStores.deviceLogs;
    expect(spec).toMatchObject({ key: 'deviceLogs', bucket: 'FW_device_logs', ttlMs: 30 * DAY_MS });
    expect(spec.maxBytes).toBeUndefined();
    expect(toObjectStoreOptions(spec)).toEqual({
      description: expect.any(String),
      ttl: 30 * DAY_MS * NS_PER_MS,
      storage: 'file',
      replicas: 1,
    });
  });

  it('takes device log overrides, with the TTL in nanoseconds for the object store client', () => {
    const custom = jetStreamTopology({
      root: 'x9',
      deviceLogTtlMs: DAY_MS,
      deviceLogMaxBytes: 1 << 30,
      storage: 'memory',
      replicas: 3,
    });
    expect(toObjectStoreOptions(custom.objectStores.deviceLogs)).toEqual({
      description: expect.any(String),
      ttl: DAY_MS * NS_PER_MS,
      storage: 'memory',
      replicas: 3,
      max_bytes: 1 << 30,
    });
  });

  it('names the backing stream and chunk subjects of an object store as the NATS client does', () => {
    expect(objectStoreStreamName('FW_device_logs')).toBe('OBJ_FW_device_logs');
    expect(objectChunkSubject('FW_device_logs', 'abc')).toBe('$O.FW_device_logs.C.abc');
  });
});

describe('consumerSpec', () => {
  const { streams, subjects: s } = jetStreamTopology();
  const tenant = parseTenantId('acme');

  it('builds multi-filter consumers with backoff', () => {
    const spec = consumerSpec(streams, {
      durableName: 'alerting',
      stream: STREAM.DEVICE_EVENTS,
      filterSubjects: [s.upAll(UP_KIND.EVENT), s.upFor(tenant, UP_KIND.STATUS)],
      maxDeliver: 4,
      backoffMs: [1000, 5000, 30_000],
    });
    expect(toConsumerConfig(spec)).toMatchObject({
      filter_subjects: ['fw.*.up.*.event', 'fw.acme.up.*.status'],
      backoff: [1e9, 5e9, 30e9],
      max_deliver: 4,
    });
  });

  it.each([
    [{ durableName: 'bad.name' }, /durable name/],
    [{ filterSubjects: [] }, /at least one filter/],
    [{ filterSubjects: ['fw.*.presence.*'] }, /outside stream/],
    [{ filterSubjects: ['fw.*.up.*.*'] }, /outside stream/],
    [{ maxDeliver: 2, backoffMs: [1000, 2000] }, /max_deliver/],
    [{ ackWaitMs: 0 }, /ack wait/],
    [{ stream: 'NOPE' as StreamKey }, /unknown stream/],
  ])('rejects %j', (override, message) => {
    const input = {
      durableName: 'c1',
      stream: STREAM.TELEMETRY,
      filterSubjects: [s.upAll(UP_KIND.TELEMETRY)],
      ...override,
    };
    expect(() => consumerSpec(streams, input)).toThrow(message);
  });

  it('insists on deliver-all for work queues', () => {
    const input = { durableName: 'notifier', stream: STREAM.NOTIFY, filterSubjects: [s.notifyAll()] };
    expect(consumerSpec(streams, input).deliverPolicy).toBe('all');
    expect(() => consumerSpec(streams, { ...input, deliverPolicy: 'new' })).toThrow(/work-queue/);
  });
});
