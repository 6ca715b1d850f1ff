import { connectPostgres, createLogger, migrate, type Sql } from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { createTestEnv } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyDataError } from '../src/adapters/copy-binary.ts';
import { type StoredRecord, TelemetryStore } from '../src/adapters/telemetry-store.ts';
import { latestOf } from '../src/latest-state.ts';

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
    expect((rows[1]!.received_at as Date).getTime()).toBe(now);
    expect(rows[1]!.event_io).toBe(239);
    const [part] =
      await sql`select tableoid::regclass::text as p from telemetry where device_time = ${new Date(now)}`;
    expect(part!.p).toBe('telemetry_20261122');
  });

  it('writes the new records of a batch that also holds stored ones, and stays usable', async () => {
    const dev = '356307042441013';
    const old = record(dev, now + 20_000);
    expect(await store.write([old])).toEqual({ inserted: 1 });
    // The COPY fails on the stored key; the batch is written again skipping it.
    const fresh = [record(dev, now + 21_000), record(dev, now + 22_000)];
    expect(await store.write([fresh[0]!, old, fresh[1]!])).toEqual({ inserted: 2 });
    for (let i = 0; i < 5; i++)
      expect(await store.write([record(dev, now + 30_000 + i)])).toEqual({ inserted: 1 });
    // Records of redelivered messages skip COPY: stored ones are skipped, others inserted.
    const resent = [record(dev, now + 30_000), record(dev, now + 35_000)];
    expect(await store.write([record(dev, now + 36_000)], [], resent)).toEqual({ inserted: 2 });
    const [n] =
      await sql`select count(*)::int as n from telemetry where device_id = ${dev} and device_time >= ${new Date(now + 20_000)}`;
    expect(n!.n).toBe(10);
    const [open] =
      await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`;
    expect(open!.n).toBe(0);
  });

  it('stores missing values as NULL and text as sent', async () => {
    const dev = '356307042441014';
    const t = now + 50_000;
    const sparse = record(dev, t, {
      priority: null,
      latitude: null,
      longitude: null,
      altitude: null,
      angle: null,
      satellites: null,
      speed: null,
      io: { '11': '893700218', '16': 22949000 },
      attributes: { name: 'Ünïcødé ✓', ok: false },
      source: 'ws',
    });
    await store.write([sparse]);
    const [row] =
      await sql`select * from telemetry where device_id = ${dev} and device_time = ${new Date(t)}`;
    expect(row).toMatchObject({
      priority: null,
      latitude: null,
      longitude: null,
      altitude: null,
      angle: null,
      satellites: null,
      speed: null,
      io: { '11': '893700218', '16': 22949000 },
      attributes: { name: 'Ünïcødé ✓', ok: false },
      source: 'ws',
    });
  });

  it('stores times before 2000 (negative in PostgreSQL terms) to the millisecond', async () => {
    const dev = '356307042441014';
    const early = [record(dev, 1_234), record(dev, 946_684_799_999, { receivedAt: 946_684_800_001 })];
    await store.write(early);
    const rows =
      await sql`select device_time, received_at from telemetry where device_id = ${dev} and device_time < '2001-01-01' order by device_time`;
    expect(rows.map((r) => (r.device_time as Date).getTime())).toEqual([1_234, 946_684_799_999]);
    expect((rows[1]!.received_at as Date).getTime()).toBe(946_684_800_001);
  });

  it('refuses a value PostgreSQL would refuse with a data error, storing nothing', async () => {
    const dev = '356307042441013';
    const bad = [record(dev, now + 40_000), record(dev, now + 41_000, { priority: 70_000 })];
    const err = await store.write(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CopyDataError);
    expect(err).toMatchObject({ code: '22003' });
    const rows =
      await sql`select 1 from telemetry where device_id = ${dev} and device_time >= ${new Date(now + 40_000)}`;
    expect(rows).toHaveLength(0);
  });

  it("reports PostgreSQL's own data error for a value only the server refuses, storing nothing", async () => {
    const dev = '356307042441013';
    const bad = [record(dev, now + 60_000), record(dev, now + 61_000, { source: 'nul\u0000byte' })];
    const err = await store.write(bad).catch((e: unknown) => e);
    expect(String((err as { code?: string }).code)).toMatch(/^22/);
    const rows =
      await sql`select 1 from telemetry where device_id = ${dev} and device_time >= ${new Date(now + 60_000)}`;
    expect(rows).toHaveLength(0);
    expect(await store.write([record(dev, now + 62_000)])).toEqual({ inserted: 1 });
  });

  it('keeps the newest position as latest state and merges attributes', async () => {
    const dev = '356307042441014';
    const first = [
      record(dev, now + 5000, { latitude: 1, attributes: { ignition: true, batteryLevel: 80 } }),
      record(dev, now + 9000, { latitude: 2, attributes: { ignition: false } }),
    ];
    await store.write(first, latestOf(first));
    // An older record arriving late neither moves the position back nor hides newer attributes.
    const late = [record(dev, now + 1000, { latitude: 3, attributes: { ignition: true, gsmSignal: 4 } })];
    await store.write(late, latestOf(late));
    const [state] = await sql`select * from device_state where device_id = ${dev}`;
    expect(state!.latitude).toBe(2);
    expect((state!.device_time as Date).getTime()).toBe(now + 9000);
    expect(state!.attributes).toEqual({ ignition: false, batteryLevel: 80, gsmSignal: 4 });
  });

  it('skips latest state for a device no longer registered instead of failing the batch', async () => {
    const batch = [record('unregistered1', now)];
    expect(await store.write(batch, latestOf(batch))).toEqual({ inserted: 1 });
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
