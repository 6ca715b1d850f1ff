import { connectPostgres, createLogger, migrate, type Sql } from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { createTestEnv } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StoredRecord, TelemetryStore } from '../src/adapters/telemetry-store.ts';
import { LatestStates, LatestStateWriter } from '../src/latest-state.ts';

const now = Date.UTC(2026, 10, 22, 12, 0, 0);
const log = createLogger('test', 't', 'silent');

function record(deviceId: string, deviceTime: number, extra: Partial<StoredRecord> = {}): StoredRecord {
  return {
    tenantId: 'default',
    deviceId,
    deviceTime,
    eventIo: 0,
    receivedAt: deviceTime + 5,
    priority: 1,
    latitude: 1,
    longitude: 2,
    altitude: 3,
    angle: 4,
    satellites: 5,
    speed: 6,
    io: {},
    attributes: {},
    source: 'teltonika',
    ...extra,
  };
}

describe('LatestStates', () => {
  it('merges records in any order into the same state: newest position, its attributes win', () => {
    const records = [
      record('a', now + 2000, { latitude: 20, attributes: { ignition: false } }),
      record('a', now + 1000, { latitude: 10, attributes: { battery: 70, gsm: 4 } }),
      record('a', now + 3000, { latitude: 30, attributes: { battery: 80 }, receivedAt: now }),
      record('b', now, { latitude: 99 }),
    ];
    for (const order of [
      records,
      [...records].reverse(),
      [records[2]!, records[0]!, records[3]!, records[1]!],
    ]) {
      const states = new LatestStates();
      states.add(order);
      const [a, b] = states.take();
      expect(a).toMatchObject({
        deviceId: 'a',
        deviceTime: now + 3000,
        latitude: 30,
        receivedAt: now + 2005,
      });
      expect(a!.attributes).toEqual({ ignition: false, gsm: 4, battery: 80 });
      expect(b).toMatchObject({ deviceId: 'b', latitude: 99 });
      expect(states.size).toBe(0);
    }
  });

  it('does not change the records it was given', () => {
    const r = record('a', now, { attributes: { x: 1 } });
    const states = new LatestStates();
    states.add([r]);
    states.add([record('a', now + 1, { attributes: { y: 2 } })]);
    expect(r.attributes).toEqual({ x: 1 });
  });
});

describe('LatestStateWriter (real PostgreSQL)', () => {
  let sql: Sql;
  let store: TelemetryStore;
  const state = async (dev: string) =>
    (await sql`select * from device_state where device_id = ${dev}`)[0] as
      | { device_time: Date; latitude: number; attributes: Record<string, unknown> }
      | undefined;

  beforeAll(async () => {
    const env = await createTestEnv('latest');
    sql = connectPostgres(env.databaseUrl, { appName: 'test' });
    await migrate(sql, migrations(), log);
    await sql`insert into devices (tenant_id, id, kind) select 'default', d, 'tracker' from unnest(${['d1', 'd2', 'd3']}::text[]) d`;
    store = new TelemetryStore(sql);
    await store.ensurePartitions(new Date(now), 1);
  });
  afterAll(() => sql.end());

  /** What the batch handler does: states due go with the batch, the rest wait. */
  async function batch(writer: LatestStateWriter, records: StoredRecord[]): Promise<void> {
    const due = writer.due(records);
    await store.write(records, due);
    writer.committed(records, due);
  }

  it('writes a quiet device with its batch, then waits the interval before writing it again', async () => {
    const writer = new LatestStateWriter({ store, intervalMs: 60_000, log });
    await batch(writer, [record('d1', now + 1000, { latitude: 10 })]);
    expect((await state('d1'))?.latitude).toBe(10);
    await batch(writer, [record('d1', now + 2000, { latitude: 20, attributes: { ignition: true } })]);
    expect((await state('d1'))?.latitude).toBe(10);
    expect(writer.pending).toBe(1);
    await writer.flush();
    const after = await state('d1');
    expect(after?.latitude).toBe(20);
    expect(after?.attributes).toEqual({ ignition: true });
    // An older record, late: stored as a row, but the state does not go back.
    await batch(writer, [record('d1', now + 1500, { latitude: 15, attributes: { gsm: 3 } })]);
    await writer.stop();
    const last = await state('d1');
    expect(last?.device_time.getTime()).toBe(now + 2000);
    expect(last?.latitude).toBe(20);
    expect(last?.attributes).toEqual({ ignition: true, gsm: 3 });
  });

  it('flushes by itself every interval', async () => {
    const writer = new LatestStateWriter({ store, intervalMs: 100, log });
    await batch(writer, [record('d2', now + 1000, { latitude: 1 })]);
    writer.committed([record('d2', now + 3000, { latitude: 3 })], []);
    const deadline = Date.now() + 10_000;
    while ((await state('d2'))?.latitude !== 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect((await state('d2'))?.latitude).toBe(3);
    await writer.stop();
  });

  it('keeps the states of a failed flush and writes them with the next one', async () => {
    const down = connectPostgres('postgres://nobody:x@127.0.0.1:1/none', { appName: 'down' });
    let target = new TelemetryStore(down);
    const writer = new LatestStateWriter({
      store: { writeLatest: (rows) => target.writeLatest(rows) },
      intervalMs: 60_000,
      log,
    });
    writer.committed([record('d3', now + 7000, { latitude: 7 })], []);
    await writer.flush();
    expect(writer.pending).toBe(1);
    expect(await state('d3')).toBeUndefined();
    target = store;
    await writer.stop();
    expect((await state('d3'))?.latitude).toBe(7);
    await down.end();
  });
});
