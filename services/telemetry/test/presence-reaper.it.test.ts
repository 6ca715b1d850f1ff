import { EdgeLease, PresenceRecorder } from '@fleetwire/edge-kit';
import {
  type DeviceId,
  type EdgeId,
  jetStreamTopology,
  presenceKey,
  type TenantId,
  TRANSPORT,
  type Transport,
} from '@fleetwire/protocol';
import { createLogger, JetStreamPublisher, type RunningService, startService } from '@fleetwire/runtime';
import { connectTestNats, createTestEnv, eventually, type TestEnv, testSql } from '@fleetwire/testkit';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telemetry } from '../src/main.ts';
import { EDGE_LOST_REASON } from '../src/presence-reaper.ts';

const TENANT = 'default' as TenantId;
const TTL_MS = 1_000;
const log = createLogger('reaper-test', 'test', 'silent');
const device = (n: number) => `35630704244${String(n).padStart(4, '0')}` as DeviceId;

/**
 * Edges that die without stopping leave their devices "online"; the telemetry service's sweep marks
 * them offline once the edge's lease is gone, and leaves every device that has a live connection.
 */
describe('presence after an edge dies (real NATS and PostgreSQL)', () => {
  let env: TestEnv;
  let service: RunningService<typeof telemetry.config>;
  let nc: NatsConnection;
  let sql: postgres.Sql;
  let presenceKv: KV;
  let edgesKv: KV;
  let publisher: JetStreamPublisher;
  const leases: EdgeLease[] = [];

  const recorder = (edgeId: string, transport: Transport = TRANSPORT.TCP) =>
    new PresenceRecorder({
      kv: presenceKv,
      publisher,
      subjects: jetStreamTopology({ root: env.subjectRoot }).subjects,
      edgeId: edgeId as EdgeId,
      transport,
      log,
    });
  const lease = async (edgeId: string) => {
    const l = new EdgeLease({
      kv: edgesKv,
      edgeId: edgeId as EdgeId,
      transport: TRANSPORT.TCP,
      ttlMs: TTL_MS,
      log,
      onLost: () => {},
    });
    await l.start();
    leases.push(l);
    return l;
  };
  const rowOf = async (deviceId: DeviceId) =>
    (
      await sql<Array<{ state: string; edge_id: string; reason: string | null }>>`
      select state, edge_id, reason from device_presence where device_id = ${deviceId}`
    )[0];
  const recorded = (deviceId: DeviceId, edgeId: string) =>
    eventually(async () => (await rowOf(deviceId))?.edge_id === edgeId || undefined);

  beforeAll(async () => {
    env = await createTestEnv('reaper');
    service = await startService(telemetry, env.serviceEnv({ FW_EDGE_LEASE_TTL: `${TTL_MS}ms` }));
    nc = await connectTestNats(env);
    sql = testSql(env);
    const topology = jetStreamTopology({ root: env.subjectRoot });
    const kvm = new Kvm(jetstream(nc));
    presenceKv = await kvm.open(topology.kv.presence.bucket);
    edgesKv = await kvm.open(topology.kv.edges.bucket);
    publisher = new JetStreamPublisher(nc);
    for (let n = 1; n <= 6; n++) {
      await sql`insert into devices (tenant_id, id, kind) values (${TENANT}, ${device(n)}, 'tracker')`;
    }
  });

  afterAll(async () => {
    for (const l of leases) await l.stop();
    await service?.stop();
    await publisher?.close();
    await nc?.close();
    await sql?.end({ timeout: 1 });
  });

  it('provisions the edges bucket with the configured lease TTL', async () => {
    const status = await edgesKv.status();
    expect(status.ttl).toBe(TTL_MS);
  });

  it('marks offline the devices of a gone edge and of an earlier process of a restarted one, and no other', async () => {
    // A crashed edge: its devices were recorded online, and it holds no lease.
    const crashedEpoch = await recorder('crashed-edge').online(TENANT, device(1));
    // A device that left the crashed edge for a live one: its newer connection must stand.
    await recorder('crashed-edge').online(TENANT, device(2));
    await lease('live-edge');
    await recorder('live-edge', TRANSPORT.WS).online(TENANT, device(2));
    await recorder('live-edge').online(TENANT, device(3));
    // An edge id whose process restarted: what the old process recorded predates the new lease.
    await recorder('phoenix-edge').online(TENANT, device(4));
    await new Promise((r) => setTimeout(r, 20));
    await lease('phoenix-edge');
    await recorder('phoenix-edge').online(TENANT, device(5));
    for (const [n, edge] of [
      [1, 'crashed-edge'],
      [2, 'live-edge'],
      [3, 'live-edge'],
      [4, 'phoenix-edge'],
      [5, 'phoenix-edge'],
    ] as const) {
      await recorded(device(n), edge);
    }

    await eventually(async () => (await rowOf(device(1)))?.state === 'offline' || undefined, 10_000);
    await eventually(async () => (await rowOf(device(4)))?.state === 'offline' || undefined, 10_000);
    expect(await rowOf(device(1))).toMatchObject({ state: 'offline', reason: EDGE_LOST_REASON });
    const kvEntry = await presenceKv.get(presenceKey(TENANT, device(1)));
    expect(kvEntry?.json()).toMatchObject({
      state: 'offline',
      edgeId: 'crashed-edge',
      reason: EDGE_LOST_REASON,
    });
    expect(kvEntry?.revision).toBeGreaterThan(crashedEpoch);

    // Several sweeps later, every live connection is still online.
    await new Promise((r) => setTimeout(r, 2 * TTL_MS));
    expect(await rowOf(device(2))).toMatchObject({ state: 'online', edge_id: 'live-edge' });
    expect(await rowOf(device(3))).toMatchObject({ state: 'online', edge_id: 'live-edge' });
    expect(await rowOf(device(5))).toMatchObject({ state: 'online', edge_id: 'phoenix-edge' });
  });

  it('reaps an edge once its lease expires', async () => {
    // An edge that took its lease and died at once: no refresh, so the key expires after the TTL.
    const startedAt = Date.now() - 100;
    await edgesKv.put(
      'dying-edge',
      JSON.stringify({ edgeId: 'dying-edge', transport: 'tcp', startedAt, at: startedAt }),
    );
    await recorder('dying-edge').online(TENANT, device(6));
    await recorded(device(6), 'dying-edge');
    await eventually(async () => (await rowOf(device(6)))?.state === 'offline' || undefined, 10_000);
    expect(await edgesKv.get('dying-edge')).toBeNull();
  });
});
