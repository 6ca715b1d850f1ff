import path from 'node:path';
import { type RunningService, startService } from '@fleetwire/runtime';
import {
  createTestEnv,
  eventually,
  REPO_ROOT,
  type SpawnedService,
  spawnService,
  type TestEnv,
  TrackerClient,
  testSql,
} from '@fleetwire/testkit';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeTcp } from '../../services/edge-tcp/src/main.ts';
import { telemetry } from '../../services/telemetry/src/main.ts';

const IMEI = '356307042441321';
const EDGE_TCP_MAIN = path.join(REPO_ROOT, 'services/edge-tcp/src/main.ts');
const LEASE_TTL = '1s';

/** An edge killed with SIGKILL publishes no offline: its lease expiring is what tells the others. */
describe('an edge process killed outright (real NATS, PostgreSQL, edge-tcp process)', () => {
  let env: TestEnv;
  let sql: postgres.Sql;
  let writer: RunningService<typeof telemetry.config>;
  let crashing: SpawnedService | undefined;
  let survivor: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }> | undefined;
  const presence = async () =>
    (
      await sql<Array<{ state: string; edge_id: string; reason: string | null }>>`
      select state, edge_id, reason from device_presence where device_id = ${IMEI}`
    )[0];

  beforeAll(async () => {
    env = await createTestEnv('edge_crash');
    writer = await startService(telemetry, env.serviceEnv({ FW_EDGE_LEASE_TTL: LEASE_TTL }));
    sql = testSql(env);
    await sql`insert into devices (tenant_id, id, kind) values ('default', ${IMEI}, 'tracker')`;
  });

  afterAll(async () => {
    crashing?.kill('SIGKILL');
    await survivor?.stop();
    await writer?.stop();
    await sql?.end({ timeout: 1 });
  });

  it('marks its trackers offline once its lease expires, and online again when they reconnect elsewhere', {
    timeout: 60_000,
  }, async () => {
    crashing = spawnService(EDGE_TCP_MAIN, {
      ...env.serviceEnv({ FW_EDGE_LEASE_TTL: LEASE_TTL, FW_TCP_PORT: '0', FW_EDGE_ID: 'edge-doomed' }),
      FW_LOG_LEVEL: 'info',
    });
    const started = await crashing.waitFor('accepting trackers');
    const port = Number(/"port":(\d+)[^\n]*accepting trackers/.exec(started)?.[1]);
    const tracker = await TrackerClient.connect({ port, imei: IMEI });
    expect(await tracker.login()).toBe(true);
    await eventually(async () => (await presence())?.state === 'online' || undefined);

    crashing.kill('SIGKILL');
    await crashing.exited;
    const killedAt = Date.now();
    const offline = await eventually(async () => {
      const row = await presence();
      return row?.state === 'offline' ? row : undefined;
    }, 20_000);
    expect(offline).toMatchObject({ edge_id: 'edge-doomed', reason: 'edge_lost' });
    // TTL (1 s) + half a TTL missing + a sweep every third: well under 5 s.
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    await tracker.close();

    survivor = await startService(
      edgeTcp,
      env.serviceEnv({ FW_EDGE_LEASE_TTL: LEASE_TTL, FW_TCP_PORT: '0', FW_EDGE_ID: 'edge-survivor' }),
    );
    const back = await TrackerClient.connect({ port: survivor.instance.port, imei: IMEI });
    expect(await back.login()).toBe(true);
    await eventually(async () => {
      const row = await presence();
      return row?.state === 'online' && row.edge_id === 'edge-survivor' ? row : undefined;
    });
    // Later sweeps leave the live edge's tracker alone.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await presence()).toMatchObject({ state: 'online', edge_id: 'edge-survivor' });
    await back.close();
  });
});
