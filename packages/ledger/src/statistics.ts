import type { Queryable } from './transition-sql.ts';

/** The tables whose plans the ledger depends on. */
export const LEDGER_TABLES = ['devices', 'commands', 'command_transitions'] as const;

/** Rows a table needs before its first ANALYZE: enough that a key lookup beats a scan in every plan. */
export const FIRST_ANALYZE_ROWS = 500;

export interface FreshTables {
  /** Tables analyzed by this call. */
  analyzed: Array<{ table: string; rows: number }>;
  /** Tables never analyzed, still below the row count. */
  waiting: string[];
}

/**
 * PostgreSQL plans a table it has never analyzed as if it were tiny, and each connection keeps the
 * plans of its prepared statements (and of its foreign-key checks): key lookups planned as scans.
 * A fresh database filled at 500 commands/s before autovacuum's first analyze had PostgreSQL take
 * most of the 2-core machine (with statistics that said "empty": the FK check on `commands` 3.9 ms
 * instead of 0.015, the answer lookup 550 ms instead of 0.26). This analyzes each table once it
 * holds enough rows (analyzed empty, the plans stay scans as it fills); ANALYZE makes every
 * connection re-plan, and autovacuum keeps the statistics from then on.
 */
export async function analyzeFreshTables(
  sql: Queryable,
  tables: readonly string[] = LEDGER_TABLES,
  minRows = FIRST_ANALYZE_ROWS,
): Promise<FreshTables> {
  const fresh = await sql<Array<{ table: string; rows: string }>>`
    select relname::text as table, n_live_tup::text as rows from pg_stat_user_tables
    where schemaname = current_schema() and relname = any(${tables as string[]}::text[])
      and last_analyze is null and last_autoanalyze is null`;
  const result: FreshTables = { analyzed: [], waiting: [] };
  for (const { table, rows } of fresh) {
    if (Number(rows) < minRows) {
      result.waiting.push(table);
      continue;
    }
    if (!/^[a-z_]+$/.test(table)) throw new Error(`unexpected table name ${table}`);
    await sql.unsafe(`analyze ${table}`);
    result.analyzed.push({ table, rows: Number(rows) });
  }
  return result;
}
