import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';

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

/**
 * PostgreSQL side of the telemetry pipeline. Rows go in through one `insert … select from
 * jsonb_to_recordset(…)` per batch (one round trip and one parameter whatever the batch size: the
 * batch is serialised by the native JSON.stringify rather than as a dozen arrays escaped in
 * JavaScript, a large share of this service's CPU) with `on conflict do nothing`, which is what
 * makes retransmitted packets harmless. Times travel as epoch milliseconds.
 */
export class TelemetryStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Inserts the records and refreshes the latest state of their devices in one transaction. */
  async write(records: readonly StoredRecord[]): Promise<{ inserted: number }> {
    if (records.length === 0) return { inserted: 0 };
    const latest = latestPerDevice(records);
    return this.#sql.begin(async (tx) => {
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
      await upsertLatest(tx, latest);
      return { inserted: result.count };
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

function latestPerDevice(records: readonly StoredRecord[]): StoredRecord[] {
  const byDevice = new Map<string, StoredRecord>();
  for (const r of records) {
    const key = `${r.tenantId}\u0000${r.deviceId}`;
    const seen = byDevice.get(key);
    if (!seen || r.deviceTime >= seen.deviceTime) {
      // Attributes accumulate across the batch so a record carrying only some IO does not hide others.
      byDevice.set(key, seen ? { ...r, attributes: { ...seen.attributes, ...r.attributes } } : r);
    }
  }
  // A fixed order: two batches in flight lock the same device_state rows in the same order (no deadlock).
  return [...byDevice.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
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
