import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';
import { InvalidCursorError } from './errors.ts';

/** One uploaded log as the index knows it. */
export interface DeviceLog {
  id: string;
  deviceId: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  createdAt: string;
}

export interface LogRow extends DeviceLog {
  objectName: string;
}

export interface NewLogRow {
  tenant: string;
  id: string;
  deviceId: string;
  fileName: string;
  contentType: string;
  sizeBytes: number;
  sha256: string;
  objectName: string;
}

export interface LogPage {
  items: DeviceLog[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

// Keyset paging on (created_at, id), newest first. The cursor carries created_at in whole
// microseconds (PostgreSQL's precision): a JS Date would round it to milliseconds and could skip or
// repeat rows of the same millisecond.
const encodeCursor = (createdUs: string, id: string) =>
  Buffer.from(JSON.stringify([createdUs, id])).toString('base64url');

function decodeCursor(cursor: string): [string, string] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(key) &&
      key.length === 2 &&
      typeof key[0] === 'string' &&
      /^\d{1,19}$/.test(key[0]) &&
      typeof key[1] === 'string'
    ) {
      return [key[0], key[1]];
    }
  } catch {
    // falls through to the error below
  }
  throw new InvalidCursorError();
}

function view(r: postgres.Row): LogRow {
  return {
    id: r.id,
    deviceId: r.device_id,
    fileName: r.file_name,
    contentType: r.content_type,
    sizeBytes: Number(r.size_bytes),
    sha256: r.sha256,
    createdAt: (r.created_at as Date).toISOString(),
    objectName: r.object_name,
  };
}

const publicView = ({ objectName: _, ...log }: LogRow): DeviceLog => log;

/**
 * Table `device_logs` (migration 0009): the index of uploaded logs. Rows older than the retention
 * (the object store's TTL) are hidden: their bytes are gone.
 */
export class LogIndex {
  readonly #sql: Sql;
  readonly #retentionMs: number | undefined;

  constructor(sql: Sql, retentionMs?: number) {
    this.#sql = sql;
    this.#retentionMs = retentionMs;
  }

  #live() {
    const sql = this.#sql;
    return this.#retentionMs === undefined
      ? sql``
      : sql`and created_at > now() - ${this.#retentionMs}::bigint * interval '1 millisecond'`;
  }

  async deviceExists(tenant: string, deviceId: string): Promise<boolean> {
    const sql = this.#sql;
    return (await sql`select 1 from devices where tenant_id = ${tenant} and id = ${deviceId}`).length > 0;
  }

  /** Throws PostgreSQL's foreign key violation (23503) when the device is gone. */
  async insert(row: NewLogRow): Promise<string> {
    const sql = this.#sql;
    const [inserted] = await sql`
      insert into device_logs (tenant_id, id, device_id, file_name, content_type, size_bytes, sha256, object_name)
      values (${row.tenant}, ${row.id}, ${row.deviceId}, ${row.fileName}, ${row.contentType},
              ${row.sizeBytes}, ${row.sha256}, ${row.objectName})
      returning created_at`;
    return (inserted!.created_at as Date).toISOString();
  }

  async list(tenant: string, deviceId: string, page: { limit: number; cursor?: string }): Promise<LogPage> {
    const sql = this.#sql;
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
    const rows = await sql`
      select *, (extract(epoch from created_at) * 1000000)::bigint::text as created_us
      from device_logs
      where tenant_id = ${tenant} and device_id = ${deviceId} ${this.#live()}
      ${
        after
          ? sql`and (created_at, id) < (timestamptz 'epoch' + ${after[0]}::bigint * interval '1 microsecond', ${after[1]})`
          : sql``
      }
      order by created_at desc, id desc
      limit ${page.limit + 1}`;
    const items = rows.slice(0, page.limit);
    const last = items.at(-1);
    return {
      items: items.map((r) => publicView(view(r))),
      nextCursor: rows.length > page.limit && last ? encodeCursor(last.created_us, last.id) : null,
    };
  }

  async get(tenant: string, deviceId: string, id: string): Promise<LogRow | undefined> {
    const sql = this.#sql;
    const [row] = await sql`
      select * from device_logs
      where tenant_id = ${tenant} and device_id = ${deviceId} and id = ${id} ${this.#live()}`;
    return row ? view(row) : undefined;
  }

  /**
   * Deletes up to `limit` rows older than the retention (their bytes are already gone with the
   * bucket's TTL); returns their object names. Several instances may run it at once: SKIP LOCKED
   * keeps them off each other's rows. Nothing to do without a retention.
   */
  async deleteExpired(limit: number): Promise<string[]> {
    if (this.#retentionMs === undefined) return [];
    const sql = this.#sql;
    const rows = await sql`
      delete from device_logs
      where (tenant_id, id) in (
        select tenant_id, id from device_logs
        where created_at <= now() - ${this.#retentionMs}::bigint * interval '1 millisecond'
        limit ${limit}
        for update skip locked)
      returning object_name`;
    return rows.map((r) => r.object_name as string);
  }

  /** The object names of the deleted rows. */
  async delete(tenant: string, deviceId: string, id?: string): Promise<string[]> {
    const sql = this.#sql;
    const rows = await sql`
      delete from device_logs
      where tenant_id = ${tenant} and device_id = ${deviceId} ${id === undefined ? sql`` : sql`and id = ${id}`}
      returning object_name`;
    return rows.map((r) => r.object_name as string);
  }
}

export { publicView };
