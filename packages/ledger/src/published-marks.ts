import type { Logger, Sql } from '@fleetwire/runtime';
import type { TransactionSql } from 'postgres';
import type { OutboxId } from './ledger-tx.ts';

/** Outbox rows per DELETE: bounds one statement's parameters and lock time. */
const MAX_BATCH = 1_000;
/**
 * How long the first row of a batch waits for company. Far below the relay's grace period (5 s),
 * and it turns a steady trickle of units of work (one caller after another) into one DELETE per
 * interval: at 100 ms a busy process marks at most ten times a second, whatever its rate (at 10 ms,
 * as before, the marks were the most frequent statement the command path sent).
 */
export const MARKS_LINGER_MS = 100;

/**
 * Marks units of work published by deleting their `command_outbox` rows, off the caller's path: at
 * most one DELETE is in flight, after a short linger; units published meanwhile wait and go into the
 * next one (group commit). Nobody waits for it. A mark lost to a crash only means the relay
 * republishes the events later (deduplicated by msgId).
 */
export class PublishedMarks {
  readonly #sql: Sql;
  readonly #log: Logger;
  #pending: OutboxId[] = [];
  #flushing: Promise<void> | undefined;
  readonly #lingerMs: number;

  constructor(sql: Sql, log: Logger, lingerMs = MARKS_LINGER_MS) {
    this.#sql = sql;
    this.#log = log;
    this.#lingerMs = lingerMs;
  }

  add(ids: Iterable<OutboxId>): void {
    const before = this.#pending.length;
    for (const id of ids) this.#pending.push(id);
    if (this.#pending.length === before) return;
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
    });
  }

  /** Resolves once every unit added so far is marked (or its DELETE failed and was logged). */
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
          { err, units: batch.length },
          'could not mark state events published; the relay will republish them',
        );
      }
    }
  }
}

/**
 * One DELETE for many outbox rows (primary-key lookups), committed with `synchronous_commit = off`
 * (`set_config(…, true)` is SET LOCAL for the statement's own transaction, or for the caller's): the
 * commit does not wait for its WAL flush. That is safe here because a mark lost to a crash only means
 * the relay republishes the events, which JetStream drops as duplicates (same msgId) inside its
 * window — at least once either way. The commits that carry state changes stay durable.
 * Deleting one small row per unit of work replaces an UPDATE of every transition row (a new row
 * version with two index entries each, in a table that grows with every command).
 */
export async function markPublished(sql: Sql | TransactionSql, ids: readonly OutboxId[]): Promise<void> {
  // One array parameter whatever the batch size, so the statement is prepared once.
  await sql`
    delete from command_outbox
    using (select set_config('synchronous_commit', 'off', true)) as relaxed
    where id = any(${sql.array(ids as OutboxId[])}::text[]::bigint[])`;
}
