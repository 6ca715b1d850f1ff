import type { Sql } from '@fleetwire/runtime';

/**
 * The device registry as edge-tcp needs it: "may this IMEI log in?". Positive answers are cached
 * briefly so a reconnect storm does not become a query storm; refusals are not cached, so a device
 * registered a moment ago gets in on its next attempt.
 */
export class TrackerRegistry {
  readonly #sql: Sql;
  readonly #autoRegister: boolean;
  readonly #known = new Map<string, number>();
  readonly #ttlMs: number;

  constructor(sql: Sql, opts: { autoRegister: boolean; cacheTtlMs?: number }) {
    this.#sql = sql;
    this.#autoRegister = opts.autoRegister;
    this.#ttlMs = opts.cacheTtlMs ?? 60_000;
  }

  async mayLogin(tenant: string, imei: string): Promise<boolean> {
    const key = `${tenant}/${imei}`;
    if ((this.#known.get(key) ?? 0) > Date.now()) return true;
    const known = this.#autoRegister
      ? (
          await this.#sql`
          insert into devices (tenant_id, id, kind) values (${tenant}, ${imei}, 'tracker')
          on conflict (tenant_id, id) do update set updated_at = devices.updated_at
          returning kind`
        ).length > 0
      : (await this.#sql`select 1 from devices where tenant_id = ${tenant} and id = ${imei}`).length > 0;
    if (known) this.#known.set(key, Date.now() + this.#ttlMs);
    return known;
  }
}
