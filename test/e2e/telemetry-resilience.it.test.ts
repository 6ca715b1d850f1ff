import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RunningPostgres, startPostgres } from '@fleetwire/devstack';
import { decodeBusMessage, jetStreamTopology, TelemetrySummary, type TenantId } from '@fleetwire/protocol';
import { type RunningService, startService } from '@fleetwire/runtime';
import { type AvlRecord, encodeAvlPacket } from '@fleetwire/teltonika';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  REPO_ROOT,
  type SpawnedService,
  spawnService,
  type TestEnv,
  TrackerClient,
} from '@fleetwire/testkit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeTcp } from '../../services/edge-tcp/src/main.ts';
import { telemetry } from '../../services/telemetry/src/main.ts';

const IMEI = '356307042441013';
const CHATTY = '356307042441099';
const HOUR_AGO = (h: number) => Math.floor(Date.now() / 1000) * 1000 - h * 3_600_000;
const TELEMETRY_MAIN = path.join(REPO_ROOT, 'services/telemetry/src/main.ts');

function packet(start: number, n: number): Uint8Array {
  const records: AvlRecord[] = Array.from({ length: n }, (_, i) => ({
    timestamp: start + i * 1000,
    priority: 0,
    longitude: 25 + i / 1000,
    latitude: 54,
    altitude: 100,
    angle: 0,
    satellites: 8,
    speed: 40,
    eventIoId: 0,
    io: [{ id: 239, width: 1, value: 1 }],
  }));
  return encodeAvlPacket(0x8e, records);
}

/**
 * These tests own their PostgreSQL cluster, so they can stop it; NATS is the run's shared server.
 */
describe('telemetry pipeline under failure (real NATS, own PostgreSQL)', () => {
  let env: TestEnv;
  let dir: string;
  let pg: RunningPostgres;
  let serviceEnv: NodeJS.ProcessEnv;
  let edge: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  let sql: postgres.Sql;
  const count = async () =>
    Number((await sql`select count(*)::int as n from telemetry where device_id = ${IMEI}`)[0]!.n);

  beforeAll(async () => {
    env = await createTestEnv('resilience');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-resilience-'));
    pg = await startPostgres({ dir: path.join(dir, 'pg'), ephemeral: true });
    serviceEnv = env.serviceEnv({ FW_DATABASE_URL: pg.url, FW_TCP_PORT: '0' });
    edge = await startService(edgeTcp, serviceEnv);
    sql = postgres(pg.url, { max: 2, onnotice: () => {} });
    await sql`insert into devices (tenant_id, id, kind) values ('default', ${IMEI}, 'tracker'), ('default', ${CHATTY}, 'tracker')`;
  });

  // Writers started as processes are killed even when a test fails half-way.
  const spawned: SpawnedService[] = [];

  afterAll(async () => {
    for (const proc of spawned) proc.kill('SIGKILL');
    await edge?.stop();
    await sql?.end({ timeout: 1 });
    await pg?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses and duplicates nothing when the telemetry service is killed mid-stream', {
    timeout: 120_000,
  }, async () => {
    const tracker = await TrackerClient.connect({ port: edge.instance.port, imei: IMEI });
    expect(await tracker.login()).toBe(true);
    let writer = spawnService(TELEMETRY_MAIN, {
      ...serviceEnv,
      FW_LOG_LEVEL: 'info',
      FW_TELEMETRY_BATCH: '50',
    });
    spawned.push(writer);
    await writer.waitFor('telemetry started');
    // Recent device times: older ones would fall to the service's retention (90 days by default).
    const base = HOUR_AGO(20);
    const packets = 120;
    for (let i = 0; i < packets; i++) {
      expect(await tracker.send(packet(base + i * 10_000, 5))).toBe(5);
      if (i === 40) writer.kill('SIGKILL');
      if (i === 80) {
        writer = spawnService(TELEMETRY_MAIN, { ...serviceEnv, FW_LOG_LEVEL: 'info' });
        spawned.push(writer);
        await writer.waitFor('telemetry started');
      }
    }
    // The retransmission a tracker makes after a lost reply is harmless too.
    expect(await tracker.send(packet(base, 5))).toBe(5);
    // Batches the killed instance had taken come back after the consumer's ack wait (10 s).
    await eventually(async () => ((await count()) === packets * 5 ? true : undefined), 75_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await count()).toBe(packets * 5);
    writer.kill('SIGTERM');
    expect((await writer.exited).code).toBe(0);
    await tracker.close();
    expect(writer.output()).toContain('telemetry stopped');
  });

  it('pauses while PostgreSQL is down, reports not ready, and catches up afterwards', async () => {
    const writer = await startService(telemetry, { ...serviceEnv, FW_TELEMETRY_NOTIFY_INTERVAL: '0' });
    const tracker = await TrackerClient.connect({ port: edge.instance.port, imei: IMEI });
    expect(await tracker.login()).toBe(true);
    const before = await count();
    const base = HOUR_AGO(10);
    await pg.stop();
    // The tracker is still acknowledged: its data is durable in JetStream.
    for (let i = 0; i < 30; i++) expect(await tracker.send(packet(base + i * 10_000, 3))).toBe(3);
    const ready = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${writer.opsPort}/readyz`);
      return res.status === 503 ? res.status : undefined;
    });
    expect(ready).toBe(503);
    pg = await startPostgres({ dir: path.join(dir, 'pg'), port: pg.port, ephemeral: true });
    // PostgreSQL has just restarted: the first queries may still fail.
    await eventually(
      async () => ((await count().catch(() => -1)) === before + 90 ? true : undefined),
      60_000,
    );
    await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${writer.opsPort}/readyz`);
      return res.status === 200 ? true : undefined;
    });
    await tracker.close();
    await writer.stop();
  });

  it('coalesces telemetry notifications per device', async () => {
    const writer = await startService(telemetry, { ...serviceEnv, FW_TELEMETRY_NOTIFY_INTERVAL: '300ms' });
    const nc = await connectTestNats(env);
    const topology = jetStreamTopology({ root: env.subjectRoot });
    const sub = nc.subscribe(topology.subjects.notify('default' as TenantId, 'telemetry'));
    const tracker = await TrackerClient.connect({ port: edge.instance.port, imei: CHATTY });
    expect(await tracker.login()).toBe(true);
    const base = HOUR_AGO(5);
    for (let i = 0; i < 10; i++) expect(await tracker.send(packet(base + i * 10_000, 2))).toBe(2);
    const summaries: TelemetrySummary[] = [];
    const deadline = Date.now() + 10_000;
    for await (const m of sub) {
      const summary = decodeBusMessage(m.data, TelemetrySummary).payload;
      if (summary.deviceId !== CHATTY) continue;
      summaries.push(summary);
      if (summaries.reduce((n, s) => n + s.recordCount, 0) >= 20 || Date.now() > deadline) break;
    }
    // 20 records, but only a few summaries: one per interval, not one per packet.
    expect(summaries.reduce((n, s) => n + s.recordCount, 0)).toBe(20);
    expect(summaries.length).toBeLessThan(10);
    expect(summaries.at(-1)).toMatchObject({ deviceId: CHATTY, latestTimestamp: base + 9 * 10_000 + 1000 });
    await tracker.close();
    await nc.close();
    await writer.stop();
  });
});
