import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';
import type { Fleet } from '../schemas/fleet.ts';

const view = (r: postgres.Row): Fleet => ({
  id: r.id,
  name: r.name,
  wsHeartbeatMs: r.ws_heartbeat_ms,
  createdAt: (r.created_at as Date).toISOString(),
});

/** Table `tenants`: the calling tenant's fleet-wide settings. */
export class FleetStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async get(tenant: string): Promise<Fleet | undefined> {
    const sql = this.#sql;
    const [row] = await sql`select id, name, ws_heartbeat_ms, created_at from tenants where id = ${tenant}`;
    return row ? view(row) : undefined;
  }

  /** `null` = the edge's default (FW_WS_HEARTBEAT). */
  async setHeartbeat(tenant: string, wsHeartbeatMs: number | null): Promise<Fleet | undefined> {
    const sql = this.#sql;
    const [row] = await sql`
      update tenants set ws_heartbeat_ms = ${wsHeartbeatMs} where id = ${tenant}
      returning id, name, ws_heartbeat_ms, created_at`;
    return row ? view(row) : undefined;
  }
}
