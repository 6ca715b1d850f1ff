import { type EdgeId, jetStreamTopology, TRANSPORT } from '@fleetwire/protocol';
import { createLogger } from '@fleetwire/runtime';
import { connectTestNats, createTestEnv, type TestEnv } from '@fleetwire/testkit';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeLease, type EdgeLeaseEntry } from '../src/edge-lease.ts';

const log = createLogger('edge-lease-test', 'test', 'silent');

describe('EdgeLease (real NATS)', () => {
  let env: TestEnv;
  let nc: NatsConnection;
  let kv: KV;

  beforeAll(async () => {
    env = await createTestEnv('edge-lease');
    nc = await connectTestNats(env);
    const topology = jetStreamTopology({ root: env.subjectRoot, edgeLeaseTtlMs: 1_000 });
    const kvm = new Kvm(jetstream(nc));
    await kvm.create(topology.kv.edges.bucket, { ttl: 1_000, history: 1 });
    kv = await kvm.open(topology.kv.edges.bucket);
  });

  afterAll(async () => {
    await nc?.close();
  });

  const leaseFor = (edgeId: string, onLost: () => void = () => {}) =>
    new EdgeLease({ kv, edgeId: edgeId as EdgeId, transport: TRANSPORT.WS, ttlMs: 1_000, log, onLost });

  it('holds its key past the TTL while running, and gives it back on stop', async () => {
    const lease = leaseFor('edge-a');
    await lease.start();
    await new Promise((r) => setTimeout(r, 2_500));
    const entry = (await kv.get('edge-a'))?.json<EdgeLeaseEntry>();
    expect(entry).toMatchObject({ edgeId: 'edge-a', transport: 'ws', startedAt: lease.startedAt });
    expect(entry!.at).toBeGreaterThan(Date.now() - 1_000);
    await lease.stop();
    expect((await kv.get('edge-a'))?.operation).not.toBe('PUT');
  });

  it('does not mistake two overlapping refreshes for a lost lease', async () => {
    let lost = 0;
    const lease = leaseFor('edge-c', () => lost++);
    await lease.start();
    await Promise.all([lease.refresh(), lease.refresh(), lease.refresh()]);
    await lease.refresh();
    expect(lost).toBe(0);
    await lease.stop();
  });

  it('reports a lease that vanished under it as lost, and takes it again', async () => {
    let lost = 0;
    const lease = leaseFor('edge-b', () => lost++);
    await lease.start();
    await lease.refresh();
    expect(lost).toBe(0);
    // What expiry does: the key is gone although the edge still runs.
    await kv.purge('edge-b');
    await lease.refresh();
    expect(lost).toBe(1);
    expect((await kv.get('edge-b'))?.json<EdgeLeaseEntry>()).toMatchObject({ startedAt: lease.startedAt });
    await lease.refresh();
    expect(lost).toBe(1);
    await lease.stop();
  });
});
