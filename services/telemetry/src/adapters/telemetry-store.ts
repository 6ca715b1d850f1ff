import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';
import { encodeTelemetryCopy, TELEMETRY_COPY_COLUMNS } from './copy-binary.ts';

/** One record as stored: the shape the store needs, independent of the bus encoding. */
export interface StoredRecord {
  tenantId: string;
  deviceId: string;
  deviceTime: number;
  eventIo: number;
  receivedAt: number;
  priority: number | null;
  latitude: number | null;
  longitude: number | null;
  altitude: number | null;
  angle: number | null;
  satellites: number | null;
  speed: number | null;
  io: Record<string, string | number>;
  attributes: Record<string, string | number | boolean>;
  source: string;
}

/** Rows already encoded for COPY (`bytes`), and the same rows as records for the exact path. */
export interface CopyRows {
  count: number;
  /** The whole COPY stream; encoding refuses values PostgreSQL would refuse (CopyDataError). */
  bytes(): Buffer;
  records(): readonly StoredRecord[];
}

function encodedRows(records: readonly StoredRecord[]): CopyRows {
  return { count: records.length, bytes: () => encodeTelemetryCopy(records), records: () => records };
}

/**
 * PostgreSQL side of the telemetry pipeline. Rows go in through a binary COPY per batch: the
 * server parses nothing but the two jsonb columns (numbers and timestamps arrive in storage
 * format), which costs it less than half of an `insert … select from jsonb_to_recordset(…)`.
 * COPY cannot skip rows that already exist, so a batch holding a retransmitted or redelivered
 * record fails on the primary key and is written again by the exact path, `insert … on conflict
 * do nothing`: duplicates are rare (JetStream's duplicate window stops most), so that cost is too.
 * Latest device state (`device_state`) is written by the `LatestStateWriter`, sometimes with a batch.
 */
export class TelemetryStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * Inserts the records (records already stored are skipped) and upserts `latest` (device states,
   * see `LatestStateWriter`) in the same transaction. `resent` are records of redelivered messages:
   * likely stored already, so they skip COPY and go straight to `insert … on conflict do nothing`.
   * `records` may come already encoded (`CopyRows`, see the batch handler).
   */
  async write(
    records: readonly StoredRecord[] | CopyRows,
    latest: readonly StoredRecord[] = [],
    resent: readonly StoredRecord[] = [],
  ): Promise<{ inserted: number }> {
    const rows = 'bytes' in records ? records : encodedRows(records);
    if (rows.count + resent.length === 0) return { inserted: 0 };
    // Encoding refuses values PostgreSQL would refuse (a data error), before anything is sent.
    const bytes = rows.count > 0 ? rows.bytes() : undefined;
    try {
      return await this.#sql.begin(async (tx) => {
        if (bytes) await copyIn(tx, bytes);
        const again = resent.length > 0 ? await insertSkippingDuplicates(tx, resent) : 0;
        if (latest.length > 0) await upsertLatest(tx, latest);
        return { inserted: rows.count + again };
      });
    } catch {
      // A duplicate key, most likely; any other cause fails the exact path the same way, with the real error.
      return this.#sql.begin(async (tx) => {
        const inserted = await insertSkippingDuplicates(tx, [...rows.records(), ...resent]);
        if (latest.length > 0) await upsertLatest(tx, latest);
        return { inserted };
      });
    }
  }

  /**
   * Upserts the latest state of devices (one row each, sorted by device, so that concurrent
   * writers lock rows in the same order). Guarded by device time: never moves a device back.
   * Committed without waiting for the WAL flush: the rows it summarises are already durable in
   * `telemetry`, and state lost in a crash is replaced by the device's next record.
   */
  async writeLatest(rows: readonly StoredRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#sql.begin(async (tx) => {
      await tx`set local synchronous_commit = off`;
      await upsertLatest(tx, rows);
    });
  }

  async ensurePartitions(fromDay: Date, days: number): Promise<void> {
    for (let i = 0; i < days; i++) {
      const day = new Date(
        Date.UTC(fromDay.getUTCFullYear(), fromDay.getUTCMonth(), fromDay.getUTCDate() + i),
      );
      await this.#sql`select fw_ensure_telemetry_partition(${day.toISOString().slice(0, 10)}::date)`;
    }
  }

  /** Retention: drops whole days before the cut-off. Returns the number of partitions dropped. */
  async dropBefore(day: Date): Promise<number> {
    const [row] = await this
      .#sql`select fw_drop_telemetry_before(${day.toISOString().slice(0, 10)}::date) as n`;
    return Number(row?.n ?? 0);
  }
}

/**
 * postgres.js 3.4.9 never settles the writable of a COPY that the server rejects
 * (porsager/postgres#1173), so the outcome is read from the next statement instead: it runs only
 * after the COPY and fails (25P02, transaction aborted) if the COPY failed, or with the
 * connection if that broke.
 */
/** ≈ 60 s of polling (10 immediates, then every 10 ms). */
const COPY_HANDOVER_TICKS = 6_000;

async function copyIn(tx: postgres.TransactionSql, bytes: Buffer): Promise<void> {
  const copy = await tx
    .unsafe(`copy telemetry (${TELEMETRY_COPY_COLUMNS}) from stdin (format binary)`)
    .writable();
  copy.on('error', () => {}); // reported by the statement below
  await new Promise<void>((resolve) => copy.write(bytes, () => resolve()));
  copy.end();
  for (let tick = 0; ; tick++) {
    // The driver refuses statements until the stream has handed over CopyDone (a tick or two later).
    await new Promise((resolve) => (tick < 10 ? setImmediate(resolve) : setTimeout(resolve, 10)));
    try {
      await tx`select 1`;
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'COPY_IN_PROGRESS') throw err;
      // The data never left (a wedged socket): give the batch back for a retry rather than wait forever.
      if (tick > COPY_HANDOVER_TICKS) throw err;
    }
  }
}

async function insertSkippingDuplicates(
  tx: postgres.TransactionSql,
  records: readonly StoredRecord[],
): Promise<number> {
  const result = await tx`
    insert into telemetry (tenant_id, device_id, device_time, event_io, received_at, priority, latitude, longitude,
                           altitude, angle, satellites, speed, io, attributes, source)
    select "tenantId", "deviceId", to_timestamp("deviceTime" / 1000.0), "eventIo", to_timestamp("receivedAt" / 1000.0), priority,
           latitude, longitude, altitude, angle, satellites, speed, io, attributes, source
    from jsonb_to_recordset(${tx.json(records as unknown as postgres.JSONValue)})
      as u("tenantId" text, "deviceId" text, "deviceTime" float8, "eventIo" int, "receivedAt" float8,
           priority int2, latitude float8, longitude float8, altitude int, angle int, satellites int2,
           speed int, io jsonb, attributes jsonb, source text)
    on conflict do nothing`;
  return result.count;
}

async function upsertLatest(tx: postgres.TransactionSql, rows: readonly StoredRecord[]): Promise<void> {
  // Joining the registry keeps a device deleted meanwhile from failing the batch on the foreign key.
  await tx`
    insert into device_state as s (tenant_id, device_id, device_time, received_at, latitude, longitude, altitude,
                                   angle, satellites, speed, attributes)
    select u."tenantId", u."deviceId", to_timestamp(u."deviceTime" / 1000.0), to_timestamp(u."receivedAt" / 1000.0), u.latitude,
           u.longitude, u.altitude, u.angle, u.satellites, u.speed, u.attributes
    from jsonb_to_recordset(${tx.json(rows as unknown as postgres.JSONValue)})
      as u("tenantId" text, "deviceId" text, "deviceTime" float8, "receivedAt" float8, latitude float8,
           longitude float8, altitude int, angle int, satellites int2, speed int, attributes jsonb)
    join devices d on d.tenant_id = u."tenantId" and d.id = u."deviceId"
    order by u."tenantId", u."deviceId"
    on conflict (tenant_id, device_id) do update set
      received_at = greatest(s.received_at, excluded.received_at),
      updated_at = now(),
      device_time = greatest(s.device_time, excluded.device_time),
      latitude = case when excluded.device_time >= s.device_time then excluded.latitude else s.latitude end,
      longitude = case when excluded.device_time >= s.device_time then excluded.longitude else s.longitude end,
      altitude = case when excluded.device_time >= s.device_time then excluded.altitude else s.altitude end,
      angle = case when excluded.device_time >= s.device_time then excluded.angle else s.angle end,
      satellites = case when excluded.device_time >= s.device_time then excluded.satellites else s.satellites end,
      speed = case when excluded.device_time >= s.device_time then excluded.speed else s.speed end,
      attributes = case when excluded.device_time >= s.device_time
                        then s.attributes || excluded.attributes
                        else excluded.attributes || s.attributes end`;
}
