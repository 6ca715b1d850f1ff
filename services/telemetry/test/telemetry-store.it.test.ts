import { connectPostgres, createLogger, migrate, type Sql } from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { createTestEnv } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StoredRecord, TelemetryStore } from '../src/adapters/telemetry-store.ts';

const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 22, 12, 0, 0);

function record(deviceId: string, deviceTime: number, extra: Partial<StoredRecord> = {}): StoredRecord {
  return {
    tenantId: 'default',
    deviceId,
    deviceTime,
    eventIo: 0,
    receivedAt: now,
    priority: 1,
    latitude: 40.45731,
    longitude: -3.669515,
    altitude: 725,
    angle: 0,
    satellites: 7,
    speed: 12,
    io: { '239': 1 },
    attributes: { ignition: true },
    source: 'teltonika',
    ...extra,
  };
}

describe('TelemetryStore (real PostgreSQL)', () => {
  let sql: Sql;
  let store: TelemetryStore;

  beforeAll(async () => {
    const env = await createTestEnv('store');
    sql = connectPostgres(env.databaseUrl, { appName: 'test' });
    await migrate(sql, migrations(), createLogger('test', 't', 'silent'));
    await sql`insert into devices (tenant_id, id, kind) values ('default', '356307042441013', 'tracker'), ('default', '356307042441014', 'tracker')`;
    store = new TelemetryStore(sql);
    await store.ensurePartitions(new Date(now - DAY), 3);
  });
  afterAll(() => sql.end());

  it('stores every field and never duplicates a retransmitted record', async () => {
    const batch = [record('356307042441013', now), record('356307042441013', now + 1000, { eventIo: 239 })];
    expect(await store.write(batch)).toEqual({ inserted: 2 });
    expect(await store.write(batch)).toEqual({ inserted: 0 });
    const rows =
      await sql`select * from telemetry where device_id = '356307042441013' order by device_time, event_io`;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      tenant_id: 'default',
      event_io: 0,
      priority: 1,
      latitude: 40.45731,
      longitude: -3.669515,
      altitude: 725,
      satellites: 7,
      speed: 12,
      io: { '239': 1 },
      attributes: { ignition: true },
      source: 'teltonika',
    });
    expect((rows[0]!.device_time as Date).getTime()).toBe(now);
    const [part] =
      await sql`select tableoid::regclass::text as p from telemetry where device_time = ${new Date(now)}`;
    expect(part!.p).toBe('telemetry_20261122');
  });

  it('keeps the newest position as latest state and merges attributes', async () => {
    const dev = '356307042441014';
    await store.write([
      record(dev, now + 5000, { latitude: 1, attributes: { ignition: true, batteryLevel: 80 } }),
      record(dev, now + 9000, { latitude: 2, attributes: { ignition: false } }),
    ]);
    // An older record arriving late neither moves the position back nor hides newer attributes.
    await store.write([
      record(dev, now + 1000, { latitude: 3, attributes: { ignition: true, gsmSignal: 4 } }),
    ]);
    const [state] = await sql`select * from device_state where device_id = ${dev}`;
    expect(state!.latitude).toBe(2);
    expect((state!.device_time as Date).getTime()).toBe(now + 9000);
    expect(state!.attributes).toEqual({ ignition: false, batteryLevel: 80, gsmSignal: 4 });
  });

  it('skips latest state for a device no longer registered instead of failing the batch', async () => {
    expect(await store.write([record('unregistered1', now)])).toEqual({ inserted: 1 });
    const rows = await sql`select 1 from device_state where device_id = 'unregistered1'`;
    expect(rows).toHaveLength(0);
  });

  it('keeps records outside every partition and moves them when their day gets one', async () => {
    const future = now + 10 * DAY;
    await store.write([record('356307042441013', future)]);
    const [before] =
      await sql`select tableoid::regclass::text as p from telemetry where device_time = ${new Date(future)}`;
    expect(before!.p).toBe('telemetry_default');
    await store.ensurePartitions(new Date(future), 1);
    const [after] =
      await sql`select tableoid::regclass::text as p from telemetry where device_time = ${new Date(future)}`;
    expect(after!.p).toBe('telemetry_20261202');
  });

  it('drops whole days before the retention cut-off', async () => {
    await store.write([record('356307042441013', now - DAY)]);
    const dropped = await store.dropBefore(new Date(now));
    expect(dropped).toBe(1);
    const rows = await sql`select 1 from telemetry where device_time < ${new Date(now - 12 * 3600_000)}`;
    expect(rows).toHaveLength(0);
    expect(
      (await sql`select count(*)::int as n from telemetry where device_time >= ${new Date(now)}`)[0]!.n,
    ).toBeGreaterThan(0);
  });
});
