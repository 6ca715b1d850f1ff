import type { Logger, Sql } from '@fleetwire/runtime';
import type { TransactionSql } from 'postgres';
import type { TransitionKey } from './ledger-tx.ts';

/** Rows per UPDATE: bounds one statement's parameters and lock time. */
const MAX_BATCH = 1_000;
/**
 * How long the first row of a batch waits for company. Far below the relay's grace period (5 s),
 * and it turns a steady trickle of units of work (one caller after another) into one UPDATE per
 * interval: at 100 ms a busy process marks at most ten times a second, whatever its rate (at 10 ms,
 * as before, the marks were the most frequent statement the command path sent).
 */
export const MARKS_LINGER_MS = 100;

/**
 * Marks outbox rows (`command_transitions`) published, off the caller's path: at most one UPDATE is
 * in flight, after a short linger; rows published meanwhile wait and go into the next one (group
 * commit). A busy ledger marks many transitions per statement; nobody waits for it.
 * A mark lost to a crash only means the relay republishes the event later (deduplicated by msgId).
 */
export class PublishedMarks {
  readonly #sql: Sql;
  readonly #log: Logger;
  #pending: TransitionKey[] = [];
  #flushing: Promise<void> | undefined;
  readonly #lingerMs: number;

  constructor(sql: Sql, log: Logger, lingerMs = MARKS_LINGER_MS) {
    this.#sql = sql;
    this.#log = log;
    this.#lingerMs = lingerMs;
  }

  add(keys: readonly TransitionKey[]): void {
    if (keys.length === 0) return;
    this.#pending.push(...keys);
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
  }

  /** Resolves once every key added so far is marked (or its UPDATE failed and was logged). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #drain(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.#lingerMs));
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        await markPublished(this.#sql, batch);
      } catch (err) {
        this.#log.error(
          { err, rows: batch.length },
          'could not mark state events published; the relay will republish them',
        );
      }
    }
  }
}

/**
 * One UPDATE for many rows, found through the unique index on `seq` (a bigserial), committed with
 * `synchronous_commit = off` (`set_config(…, true)` is SET LOCAL for the statement's own
 * transaction, or for the caller's): the commit does not wait for its WAL flush. That is safe here
 * because a mark lost to a crash only means the relay republishes the event, which JetStream drops
 * as a duplicate (same msgId) inside its window — at least once either way. The commits that carry
 * state changes stay durable.
 */
export async function markPublished(
  sql: Sql | TransactionSql,
  keys: readonly TransitionKey[],
): Promise<void> {
  // One array parameter whatever the batch size, so the statement is prepared once.
  const seqs = sql.array(keys.map((k) => k.seq));
  await sql`
    update command_transitions set published_at = now()
    from (select set_config('synchronous_commit', 'off', true)) as relaxed
    where seq = any(${seqs}::text[]::bigint[]) and published_at is null`;
}
