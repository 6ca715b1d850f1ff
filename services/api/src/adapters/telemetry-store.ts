import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';
import type { TelemetryRow } from '../schemas/devices.ts';
import { positionColumns } from './device-store.ts';

export interface TelemetryRange {
  fromMs?: number;
  toMs?: number;
  /** Exclusive keyset position: rows after (deviceTime, eventIo). */
  after?: { deviceTimeMs: number; eventIo: number };
  limit: number;
}

export interface StoredTelemetry {
  row: TelemetryRow;
  key: [number, number];
}

function view(r: postgres.Row): StoredTelemetry {
  const deviceTime = r.device_time as Date;
  return {
    key: [deviceTime.getTime(), r.event_io],
    row: {
      deviceTime: deviceTime.toISOString(),
      eventIo: r.event_io,
      receivedAt: (r.received_at as Date).toISOString(),
      priority: r.priority,
      ...positionColumns(r),
      io: r.io,
      attributes: r.attributes,
      source: r.source,
    },
  };
}

/** Reads stored telemetry (written by the telemetry service) by device-time range, oldest first. */
export class TelemetryReader {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Up to `limit + 1` rows, so the caller can tell whether more follow. */
  async range(tenant: string, deviceId: string, r: TelemetryRange): Promise<StoredTelemetry[]> {
    const sql = this.#sql;
    const rows = await sql`
      select * from telemetry
      where tenant_id = ${tenant} and device_id = ${deviceId}
      ${r.fromMs === undefined ? sql`` : sql`and device_time >= ${new Date(r.fromMs)}`}
      ${r.toMs === undefined ? sql`` : sql`and device_time < ${new Date(r.toMs)}`}
      ${
        r.after
          ? sql`and (device_time, event_io) > (${new Date(r.after.deviceTimeMs)}, ${r.after.eventIo})`
          : sql``
      }
      order by device_time, event_io
      limit ${r.limit + 1}`;
    return rows.map(view);
  }

  /** Records whose device time falls on the current UTC day. */
  async countToday(tenant: string): Promise<number> {
    const sql = this.#sql;
    const [row] = await sql`
      select count(*)::int as n from telemetry
      where tenant_id = ${tenant} and device_time >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'`;
    return row?.n ?? 0;
  }
}
