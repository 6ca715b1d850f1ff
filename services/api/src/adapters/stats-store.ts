import type { Sql } from '@fleetwire/runtime';

/**
 * Aggregates for the seed's GET /api/v1/stats. Read-only: the command counts read the ledger's
 * table (the ledger has no aggregate of its own yet) but never write it.
 */
export class StatsStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async devices(tenant: string): Promise<{ registered: number; online: number }> {
    const sql = this.#sql;
    const [row] = await sql`
      select count(*)::int as registered, count(*) filter (where p.state = 'online')::int as online
      from devices d
      left join device_presence p on p.tenant_id = d.tenant_id and p.device_id = d.id
      where d.tenant_id = ${tenant}`;
    return { registered: row?.registered ?? 0, online: row?.online ?? 0 };
  }

  async commandsByState(tenant: string): Promise<Record<string, number>> {
    const sql = this.#sql;
    const rows =
      await sql`select state, count(*)::int as n from commands where tenant_id = ${tenant} group by state`;
    return Object.fromEntries(rows.map((r) => [r.state as string, r.n as number]));
  }
}
