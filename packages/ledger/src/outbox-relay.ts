import type { DeviceId, TenantId } from '@fleetwire/protocol';
import type { Sql } from '@fleetwire/runtime';
import { type CommandRow, type CommandView, toView } from './command-view.ts';
import type { LedgerEvents } from './ledger-events.ts';
import type { PendingDispatch } from './ledger-tx.ts';
import { markPublished } from './published-marks.ts';
import { isOpen } from './states.ts';
import { openStates, type Queryable } from './transition-sql.ts';

export interface RelayOptions {
  /** Only rows older than this: younger ones are still being published by the process that wrote them. */
  graceMs: number;
  /** Outbox rows (units of work) per batch. */
  limit: number;
}

type PendingRow = CommandRow & {
  t_seq: string;
  t_state: CommandRow['state'];
  t_attempt: number;
  t_at: Date;
  device_has_open: boolean;
};

/**
 * Republishes one batch of units of work whose events never made it (the process died between
 * commit and publish, or a publish failed), oldest first, and deletes their outbox rows. Outbox rows
 * are taken FOR UPDATE SKIP LOCKED, so relays of several instances split the backlog instead of
 * publishing it twice. Returns how many transitions it republished.
 */
export async function relayUnpublished(sql: Sql, events: LedgerEvents, opts: RelayOptions): Promise<number> {
  return sql.begin(async (tx) => {
    const units = await tx<{ id: string; seqs: string[] }[]>`
      select id::text as id, seqs::text[] as seqs from command_outbox
      where at < now() - ${opts.graceMs} * interval '1 millisecond'
      order by id
      limit ${opts.limit}
      for update skip locked`;
    if (units.length === 0) return 0;
    const rows = await pendingTransitions(
      tx,
      units.flatMap((u) => u.seqs),
    );
    const outcomes = await Promise.all([
      ...rows.map((row) => events.change(eventView(row), true)),
      ...dispatchesFor(rows).map((d) => events.tryDispatch(d)),
    ]);
    // All or nothing: whatever failed is retried next round together with its dispatch item.
    if (!outcomes.every(Boolean)) return 0;
    // Also the units whose rows are gone (their device was deleted, cascading to its commands).
    await markPublished(
      tx,
      units.map((u) => u.id),
    );
    return rows.length;
  });
}

/** The transition rows behind the given seqs with their commands, oldest first. */
function pendingTransitions(tx: Queryable, seqs: readonly string[]): Promise<PendingRow[]> {
  return tx<PendingRow[]>`
    select c.*, t.seq::text as t_seq, t.state as t_state, t.attempt as t_attempt, t.at as t_at,
      exists (
        select 1 from commands o
        where o.tenant_id = c.tenant_id and o.device_id = c.device_id
          and o.state in ${openStates(tx)}
      ) as device_has_open
    from command_transitions t
    join commands c on c.tenant_id = t.tenant_id and c.id = t.command_id
    where t.seq = any(${tx.array(seqs as string[])}::text[]::bigint[])
    order by t.at, t.seq`;
}

/**
 * The command as it was right after this transition, which is all its event carries: the state,
 * attempt and time of the transition row; response and error only for the terminal state that set
 * them (a terminal row never changes again). Same content, same msgId as the lost publish.
 */
function eventView(row: PendingRow): CommandView {
  const view = toView(row);
  const open = isOpen(row.t_state);
  return {
    ...view,
    state: row.t_state,
    attempts: row.t_attempt,
    updatedAt: row.t_at.toISOString(),
    response: row.t_state === 'completed' ? view.response : null,
    error: open || row.t_state === 'completed' ? null : view.error,
  };
}

/**
 * The dispatch items the lost unit of work would have published: `retry` after a command finished,
 * only where the device still has open commands, one per device. A lost create needs none: its
 * republished queued event is what the dispatcher reads.
 */
function dispatchesFor(rows: readonly PendingRow[]): PendingDispatch[] {
  const byDevice = new Map<string, PendingDispatch>();
  for (const row of rows) {
    const key = `${row.tenant_id}/${row.device_id}`;
    if (!row.device_has_open || byDevice.has(key) || isOpen(row.t_state)) continue;
    byDevice.set(key, {
      tenant: row.tenant_id as TenantId,
      deviceId: row.device_id as DeviceId,
      reason: 'retry',
      commandId: row.id,
    });
  }
  return [...byDevice.values()];
}
