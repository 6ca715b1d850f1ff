import { jetStreamTopology, objectChunkSubject, objectStoreStreamName } from '@fleetwire/protocol';
import {
  coalesceSocketWrites,
  connectNats,
  createLogger,
  JetStreamPublisher,
  type NatsHandle,
  type PubAck,
  PublishError,
  provision,
  provisioningFor,
} from '@fleetwire/runtime';
import { connectTestNats, countSocketWrites, createTestEnv, type TestEnv } from '@fleetwire/testkit';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const log = createLogger('test', 'test', 'silent');

describe('JetStream helpers (real nats-server)', () => {
  let env: TestEnv;
  let h: NatsHandle;
  let stream: string;

  beforeAll(async () => {
    env = await createTestEnv('js');
    h = await connectNats(env.natsUrl, 'test', log);
    stream = `${env.subjectRoot.toUpperCase()}_PUB`;
  });
  afterAll(async () => {
    await h.nc.close();
  });

  it('reports the server version and what it can do', () => {
    expect(h.features.version).toMatch(/^2\.(1\d|[2-9]\d)\./);
  });

  it('provisions streams, consumers and KV idempotently, even from several instances at once', async () => {
    const what = {
      streams: [{ name: stream, subjects: [`${env.subjectRoot}.pub.>`], duplicate_window: 60_000_000_000 }],
      consumers: [
        { stream, config: { durable_name: 'reader', ack_policy: 'explicit' as const, max_ack_pending: 500 } },
      ],
      kv: [{ bucket: `${env.subjectRoot}_kv`, options: { history: 1 } }],
    };
    const others = await Promise.all([1, 2, 3].map(() => connectNats(env.natsUrl, 'peer', log)));
    try {
      await Promise.all([h, ...others].map((x) => provision(x, what, log)));
      await provision(h, what, log);
    } finally {
      await Promise.all(others.map((o) => o.nc.close()));
    }
    const info = await h.jsm.streams.info(stream);
    expect(info.config.subjects).toEqual([`${env.subjectRoot}.pub.>`]);
    const consumer = await h.jsm.consumers.info(stream, 'reader');
    expect(consumer.config.max_ack_pending).toBe(500);
    // A changed definition is applied on the next start.
    await provision(
      h,
      { consumers: [{ stream, config: { ...what.consumers[0]!.config, max_ack_pending: 700 } }] },
      log,
    );
    expect((await h.jsm.consumers.info(stream, 'reader')).config.max_ack_pending).toBe(700);
  });

  it('provisions an object store idempotently from several instances, and applies a changed TTL', async () => {
    const topology = jetStreamTopology({ root: env.subjectRoot, deviceLogTtlMs: 60_000 });
    const what = provisioningFor(topology, { objectStores: ['deviceLogs'] });
    const bucket = topology.objectStores.deviceLogs.bucket;
    const others = await Promise.all([1, 2].map(() => connectNats(env.natsUrl, 'peer', log)));
    try {
      await Promise.all([h, ...others].map((x) => provision(x, what, log)));
      await provision(h, what, log);
    } finally {
      await Promise.all(others.map((o) => o.nc.close()));
    }
    const stream = objectStoreStreamName(bucket);
    expect((await h.jsm.streams.info(stream)).config.max_age).toBe(60_000 * 1_000_000);
    // One stored chunk stands in for an object: an update must keep what the bucket holds.
    await h.js.publish(objectChunkSubject(bucket, 'n1'), new TextEncoder().encode('kept'));

    const longer = jetStreamTopology({
      root: env.subjectRoot,
      deviceLogTtlMs: 120_000,
      deviceLogMaxBytes: 1 << 20,
    });
    await provision(h, provisioningFor(longer, { objectStores: ['deviceLogs'] }), log);
    const config = (await h.jsm.streams.info(stream)).config;
    expect(config).toMatchObject({ max_age: 120_000 * 1_000_000, max_bytes: 1 << 20 });
    expect((await h.jsm.streams.info(stream)).state.messages).toBe(1);
  });

  it('applies a changed KV bucket TTL on the next provisioning, keeping the keys', async () => {
    const at = (edgeLeaseTtlMs: number) =>
      provisioningFor(jetStreamTopology({ root: env.subjectRoot, edgeLeaseTtlMs }), { kv: ['edges'] });
    const bucket = jetStreamTopology({ root: env.subjectRoot }).kv.edges.bucket;
    await provision(h, at(30_000), log);
    const kv = await new Kvm(h.js).open(bucket);
    await kv.put('edge-1', 'alive');
    expect((await kv.status()).ttl).toBe(30_000);
    await provision(h, at(5_000), log);
    expect((await kv.status()).ttl).toBe(5_000);
    expect((await kv.get('edge-1'))?.string()).toBe('alive');
  });

  it('pipelines many publishes and resolves each with its own PubAck', async () => {
    const pub = new JetStreamPublisher(h.nc);
    const n = 20_000;
    const acks = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        pub.publish(`${env.subjectRoot}.pub.bulk`, new TextEncoder().encode(`m${i}`)),
      ),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(n);
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
    const info = await h.jsm.streams.info(stream);
    expect(info.state.messages).toBeGreaterThanOrEqual(n);
    await pub.close();
  });

  it('with coalesceWrites, sends a turn of publishes together and still resolves each with its own PubAck', async () => {
    const pub = new JetStreamPublisher(h.nc, { coalesceWrites: true });
    const before = h.nc.stats().outMsgs;
    // Publishes from separate I/O-like callbacks of one turn, as an edge does per device packet.
    const acks = await new Promise<Promise<PubAck>[]>((resolve) => {
      const pending: Promise<PubAck>[] = [];
      for (let i = 0; i < 200; i++) {
        pending.push(
          pub.publish(`${env.subjectRoot}.pub.coalesced`, new TextEncoder().encode(`c${i}`), {
            msgId: `coalesced-${i % 100}`,
          }),
        );
      }
      // Nothing left yet: the publishes wait for the end of the turn.
      expect(h.nc.stats().outMsgs).toBe(before);
      resolve(pending);
    }).then((pending) => Promise.all(pending));
    expect(h.nc.stats().outMsgs).toBeGreaterThanOrEqual(before + 200);
    expect(new Set(acks.filter((a) => !a.duplicate).map((a) => a.seq)).size).toBe(100);
    expect(acks.filter((a) => a.duplicate)).toHaveLength(100);
    await pub.close();
  });

  it('with coalesceWrites on a connection that coalesces its writes, publishes leave in that write, not a turn later', async () => {
    const nc = await connectTestNats(env);
    coalesceSocketWrites(nc);
    const writes = countSocketWrites(nc);
    const pub = new JetStreamPublisher(nc, { coalesceWrites: true });
    await new Promise((r) => setImmediate(r));
    const before = writes();
    const acks = [1, 2, 3].map((i) => pub.publish(`${env.subjectRoot}.pub.shared`, new Uint8Array([i])));
    // The connection's write of this turn carries them: one write, done before the next turn.
    await new Promise((r) => setImmediate(r));
    expect(writes() - before).toBe(1);
    expect(new Set((await Promise.all(acks)).map((a) => a.seq)).size).toBe(3);
    await pub.close();
    await nc.close();
  });

  it('with coalesceWrites, a publish rejected by the connection rejects its promise', async () => {
    const nc = await connectTestNats(env);
    const pub = new JetStreamPublisher(nc, { coalesceWrites: true });
    const publish = pub.publish(`${env.subjectRoot}.pub.after-close`, new Uint8Array([1]));
    await nc.close();
    await expect(publish).rejects.toBeInstanceOf(Error);
    await pub.close(0);
  });

  it('deduplicates by message id within the window', async () => {
    const pub = new JetStreamPublisher(h.nc);
    const first = await pub.publish(`${env.subjectRoot}.pub.dedup`, new Uint8Array([1]), { msgId: 'same' });
    const second = await pub.publish(`${env.subjectRoot}.pub.dedup`, new Uint8Array([1]), { msgId: 'same' });
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ ...first, duplicate: true });
    await pub.close();
  });

  it('rejects a publish that no stream captures instead of pretending it is durable', async () => {
    const pub = new JetStreamPublisher(h.nc);
    await expect(pub.publish(`${env.subjectRoot}.nowhere`, new Uint8Array([1]))).rejects.toMatchObject({
      name: 'PublishError',
      code: 'NO_STREAM',
    });
    await pub.close();
  });

  it('times out when no PubAck arrives', async () => {
    // A plain subscriber that never answers stands in for a stalled server.
    const nc: NatsConnection = await connectTestNats(env);
    nc.subscribe(`${env.subjectRoot}.silent`);
    await nc.flush();
    const pub = new JetStreamPublisher(h.nc, { timeoutMs: 300 });
    const err = await pub.publish(`${env.subjectRoot}.silent`, new Uint8Array([1])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).code).toBe('TIMEOUT');
    await pub.close();
    await nc.close();
  });
});
