import type { Sql } from '@fleetwire/runtime';

/** Table `device_sessions` (written by edge-ws at session start); the API only revokes. */
export class SessionStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Revokes the device's sessions that are neither expired nor revoked; returns how many. */
  async revokeLive(tenant: string, deviceId: string): Promise<number> {
    const sql = this.#sql;
    const rows = await sql`
      update device_sessions set revoked_at = now()
      where tenant_id = ${tenant} and device_id = ${deviceId} and revoked_at is null and expires_at > now()
      returning id`;
    return rows.length;
  }
}
