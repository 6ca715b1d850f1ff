import type { DeviceId } from '@fleetwire/protocol';
import type { Sql } from '@fleetwire/runtime';
import { eventually } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFreshTables, FIRST_ANALYZE_ROWS } from '../src/statistics.ts';
import { type LedgerTestContext, startLedgerContext } from './support.ts';

const DEVICE = '356307042441015' as DeviceId;

describe('first statistics for the ledger tables (real PostgreSQL)', () => {
  let ctx: LedgerTestContext;
  let sql: Sql;

  beforeAll(async () => {
    ctx = await startLedgerContext('statistics', [DEVICE]);
    ({ sql } = ctx);
  });

  afterAll(() => ctx?.close());

  const lastAnalyzed = async (table: string) => {
    const [row] = await sql<Array<{ at: Date | null }>>`
      select coalesce(last_analyze, last_autoanalyze) as at from pg_stat_user_tables
      where schemaname = current_schema() and relname = ${table}`;
    return row?.at ?? null;
  };

  it('analyzes a never-analyzed table once it holds enough rows, and leaves small and analyzed ones alone', async () => {
    expect(await lastAnalyzed('commands')).toBeNull();
    const first = await analyzeFreshTables(sql);
    expect(first.analyzed).toEqual([]);
    expect(first.waiting.sort()).toEqual(['command_transitions', 'commands', 'devices']);

    const n = FIRST_ANALYZE_ROWS + 100;
    await sql`
      insert into commands (tenant_id, id, device_id, name, state, max_attempts, attempt_timeout_ms, expires_at)
      select 'default', 'stat-' || i, ${DEVICE}, 'codec12', 'queued', 3, 30000, now() + interval '1 hour'
      from generate_series(1, ${n}) as i`;
    // The statistics system reports row counts a moment after the commit.
    const analyzed = await eventually(async () => {
      const r = await analyzeFreshTables(sql);
      return r.analyzed.length > 0 ? r : undefined;
    }, 10_000);
    expect(analyzed.analyzed).toEqual([{ table: 'commands', rows: n }]);
    expect(analyzed.waiting.sort()).toEqual(['command_transitions', 'devices']);
    expect(await lastAnalyzed('commands')).not.toBeNull();
    const [stats] = await sql<Array<{ reltuples: number }>>`
      select reltuples from pg_class where oid = 'commands'::regclass`;
    expect(stats?.reltuples).toBe(n);

    const again = await analyzeFreshTables(sql);
    expect(again.analyzed).toEqual([]);
    expect(again.waiting.sort()).toEqual(['command_transitions', 'devices']);
  });
});
