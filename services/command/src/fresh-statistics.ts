import { analyzeFreshTables } from '@fleetwire/ledger';
import type { Logger, PeriodicTask, Sql } from '@fleetwire/runtime';
import { runEvery } from '@fleetwire/runtime';

/**
 * Gives the ledger's tables their first statistics as soon as they hold enough rows (see
 * `analyzeFreshTables`), then stops looking: autovacuum takes over. Every instance may do it; a
 * second ANALYZE is harmless.
 */
export class FreshStatistics {
  readonly #sql: Sql;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #task: PeriodicTask | undefined;
  #done = false;

  constructor(deps: { sql: Sql; log: Logger; intervalMs?: number }) {
    this.#sql = deps.sql;
    this.#log = deps.log;
    this.#intervalMs = deps.intervalMs ?? 1_000;
  }

  start(): void {
    this.#task = runEvery(
      this.#intervalMs,
      () => this.check(),
      (err) => this.#log.warn({ err }, 'could not check the ledger tables for statistics'),
    );
  }

  /** One look; true once every ledger table has been analyzed. */
  async check(): Promise<boolean> {
    if (this.#done) return true;
    const { analyzed, waiting } = await analyzeFreshTables(this.#sql);
    for (const { table, rows } of analyzed)
      this.#log.info({ table, rows }, 'analyzed a table PostgreSQL had no statistics for');
    this.#done = waiting.length === 0;
    return this.#done;
  }

  async stop(): Promise<void> {
    await this.#task?.stop();
  }
}
