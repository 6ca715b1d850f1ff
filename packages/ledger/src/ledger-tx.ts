import type { CommandDispatch, CommandState, DeviceId, TenantId } from '@fleetwire/protocol';
import type { TransactionSql } from 'postgres';
import { type CommandRow, type CommandView, toView } from './command-view.ts';
import { ALLOWED_FROM, isTerminal, OPEN_STATES } from './states.ts';

export type DispatchReason = CommandDispatch['reason'];

export interface TransitionChange {
  to: CommandState;
  /** The new attempt count (sending). */
  attempts?: number;
  /** Only if the command is still at this attempt count: two senders cannot both count one attempt. */
  expectAttempts?: number;
  response?: string;
  error?: string;
  /** Free text for the transition row. */
  detail?: string;
}

/** The head of a device's queue, locked for this transaction, with the database clock. */
export type DeviceHead =
  | { kind: 'idle' }
  /** Another transaction holds the head: some instance is working on this device right now. */
  | { kind: 'busy-elsewhere' }
  | { kind: 'head'; command: CommandView; nowMs: number };

/** Identifies one `command_transitions` row (the outbox entry of its state event). */
export interface TransitionKey {
  tenant: string;
  commandId: string;
  /** bigserial, as PostgreSQL returns it. */
  seq: string;
}

export interface PendingDispatch {
  tenant: TenantId;
  deviceId: DeviceId;
  reason: DispatchReason;
  commandId?: string;
}

/**
 * One transaction on the ledger. Changes are guarded updates; their events are collected here and
 * published by the ledger only after the transaction committed, so nothing is announced that did
 * not happen. The transition rows written here are the outbox: they stay unpublished until the
 * ledger (or the relay, after a crash) got their events onto JetStream.
 */
export class LedgerTx {
  readonly #tx: TransactionSql;
  readonly changes: CommandView[] = [];
  readonly dispatches: PendingDispatch[] = [];
  /** The transition rows written in this transaction, to be marked published after their events. */
  readonly recorded: TransitionKey[] = [];

  constructor(tx: TransactionSql) {
    this.#tx = tx;
  }

  get sql(): TransactionSql {
    return this.#tx;
  }

  /**
   * Moves a command to `change.to` if its current state allows it (and the attempt guard holds);
   * returns the new view, or undefined when the guard did not match (someone else got there first).
   */
  async transition(tenant: TenantId, id: string, change: TransitionChange): Promise<CommandView | undefined> {
    const tx = this.#tx;
    const allowed = ALLOWED_FROM[change.to];
    const terminal = isTerminal(change.to);
    const [row] = await tx<CommandRow[]>`
      update commands set
        state = ${change.to},
        attempts = coalesce(${change.attempts ?? null}::int, attempts),
        sent_at = case when ${change.to === 'sent'} then now() else sent_at end,
        finished_at = case when ${terminal} then now() else finished_at end,
        response = coalesce(${change.response ?? null}::text, response),
        error = coalesce(${change.error ?? null}::text, error),
        updated_at = now()
      where tenant_id = ${tenant} and id = ${id}
        and state in ${tx(allowed as CommandState[])}
        and (${change.expectAttempts ?? null}::int is null or attempts = ${change.expectAttempts ?? null}::int)
      returning *`;
    if (!row) return undefined;
    const view = await this.record(row, change.detail ?? change.error ?? null);
    if (terminal) await this.#keepQueueMoving(view);
    return view;
  }

  /** Locks the oldest open command of a device (SKIP LOCKED: a head locked elsewhere is reported, not waited for). */
  async lockHead(tenant: TenantId, deviceId: DeviceId): Promise<DeviceHead> {
    const tx = this.#tx;
    const [row] = await tx<(CommandRow & { now_ms: string })[]>`
      select c.*, (extract(epoch from clock_timestamp()) * 1000)::bigint::text as now_ms
      from commands c
      where c.tenant_id = ${tenant} and c.id = (
        select id from commands
        where tenant_id = ${tenant} and device_id = ${deviceId} and state in ${tx(OPEN_STATES as unknown as string[])}
        order by created_at, id limit 1)
      for update skip locked`;
    if (row) {
      const { now_ms, ...command } = row;
      return { kind: 'head', command: toView(command), nowMs: Number(now_ms) };
    }
    return (await this.hasOpen(tenant, deviceId)) ? { kind: 'busy-elsewhere' } : { kind: 'idle' };
  }

  async hasOpen(tenant: TenantId, deviceId: DeviceId): Promise<boolean> {
    const tx = this.#tx;
    const [row] = await tx<{ open: boolean }[]>`
      select exists (
        select 1 from commands
        where tenant_id = ${tenant} and device_id = ${deviceId} and state in ${tx(OPEN_STATES as unknown as string[])}
      ) as open`;
    return row?.open === true;
  }

  /** Expires up to `limit` commands past their deadline, skipping rows other transactions hold. */
  async expireDue(limit: number): Promise<CommandView[]> {
    const tx = this.#tx;
    const rows = await tx<CommandRow[]>`
      with due as (
        select tenant_id, id from commands
        where state in ${tx(OPEN_STATES as unknown as string[])} and expires_at <= now()
        order by expires_at
        limit ${limit}
        for update skip locked)
      update commands c set
        state = 'expired', finished_at = now(), updated_at = now(),
        error = 'expired: no answer before ' || to_char(c.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      from due
      where c.tenant_id = due.tenant_id and c.id = due.id
      returning c.*`;
    const views: CommandView[] = [];
    for (const row of rows) {
      const view = await this.record(row, row.error);
      await this.#keepQueueMoving(view);
      views.push(view);
    }
    return views;
  }

  /** Forget the dispatch items collected so far: the caller keeps its own item for the device. */
  discardDispatches(): void {
    this.dispatches.length = 0;
  }

  /** Publish a dispatch work item after commit. */
  requestDispatch(dispatch: PendingDispatch): void {
    this.dispatches.push(dispatch);
  }

  /** Writes the transition row for the state `row` just reached and collects its event. */
  async record(row: CommandRow, detail: string | null): Promise<CommandView> {
    const [inserted] = await this.#tx<{ seq: string }[]>`
      insert into command_transitions (tenant_id, command_id, state, attempt, detail)
      values (${row.tenant_id}, ${row.id}, ${row.state}, ${row.attempts}, ${detail})
      returning seq`;
    this.recorded.push({ tenant: row.tenant_id, commandId: row.id, seq: String(inserted!.seq) });
    const view = toView(row);
    this.changes.push(view);
    return view;
  }

  /** A command that finished may have been blocking its device's queue: look at the device again. */
  async #keepQueueMoving(view: CommandView): Promise<void> {
    if (this.dispatches.some((d) => d.tenant === view.tenant && d.deviceId === view.deviceId)) return;
    if (await this.hasOpen(view.tenant, view.deviceId)) {
      this.dispatches.push({
        tenant: view.tenant,
        deviceId: view.deviceId,
        reason: 'retry',
        commandId: view.id,
      });
    }
  }
}
