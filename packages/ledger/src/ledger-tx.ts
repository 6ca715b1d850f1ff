import type { CommandDispatch, CommandState, DeviceId, TenantId } from '@fleetwire/protocol';
import { type CommandRow, type CommandView, toView } from './command-view.ts';
import { isTerminal } from './states.ts';
import {
  applyTransitions,
  type DeviceRef,
  expireDueRows,
  lockHeadRows,
  type Queryable,
  type TransitionedRow,
  type TransitionRequest,
} from './transition-sql.ts';

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

/** Identifies one `command_outbox` row: the transition rows one statement wrote (bigserial, as text). */
export type OutboxId = string;

export interface PendingDispatch {
  tenant: TenantId;
  deviceId: DeviceId;
  reason: DispatchReason;
  commandId?: string;
}

/**
 * One unit of work on the ledger: a transaction (`CommandLedger.unitOfWork`) or a single
 * autocommit statement. Changes are guarded updates; their events are collected here and published
 * by the ledger only after the commit, so nothing is announced that did not happen. The transition
 * rows written here are the outbox: they stay unpublished until the ledger (or the relay, after a
 * crash) got their events onto JetStream: each statement lists the rows it wrote in one
 * `command_outbox` row, which the ledger deletes once their events are stored.
 */
export class LedgerTx {
  readonly #sql: Queryable;
  readonly changes: CommandView[] = [];
  readonly dispatches: PendingDispatch[] = [];
  /** The outbox rows of this unit's statements, deleted once all its events are stored. */
  readonly outbox = new Set<OutboxId>();

  constructor(sql: Queryable) {
    this.#sql = sql;
  }

  get sql(): Queryable {
    return this.#sql;
  }

  /**
   * Moves a command to `change.to` if its current state allows it (and the attempt guard holds);
   * returns the new view, or undefined when the guard did not match (someone else got there first).
   * One statement: guarded update, transition row and, for a terminal state, whether the device has
   * other open commands.
   */
  async transition(tenant: TenantId, id: string, change: TransitionChange): Promise<CommandView | undefined> {
    const [view] = await this.transitionMany([{ tenant, commandId: id, change }]);
    return view;
  }

  /**
   * `transition` for many commands in one statement (each command at most once); the result is
   * aligned with `requests`, undefined where the guard did not match.
   */
  async transitionMany(requests: readonly TransitionRequest[]): Promise<Array<CommandView | undefined>> {
    const rows = await applyTransitions(this.#sql, requests);
    const views = new Array<CommandView | undefined>(requests.length).fill(undefined);
    for (const row of rows) views[row.t_ord] = this.#collect(row);
    return views;
  }

  /**
   * Locks the oldest open command of each device in one statement (SKIP LOCKED: a head another
   * transaction holds is reported as busy, not waited for); the result is aligned with `devices`.
   */
  async lockHeads(devices: readonly DeviceRef[]): Promise<DeviceHead[]> {
    const rows = await lockHeadRows(this.#sql, devices);
    const byDevice = new Map(rows.map((r) => [`${r.w_tenant}/${r.w_device}`, r]));
    return devices.map((d): DeviceHead => {
      const row = byDevice.get(`${d.tenant}/${d.deviceId}`);
      if (!row || row.w_head === null) return { kind: 'idle' };
      if (row.id === null || row.id === undefined) return { kind: 'busy-elsewhere' };
      const { w_tenant: _t, w_device: _d, w_head: _h, now_ms, ...command } = row;
      return { kind: 'head', command: toView(command as CommandRow), nowMs: Number(now_ms) };
    });
  }

  /** Expires up to `limit` commands past their deadline, skipping rows other transactions hold. */
  async expireDue(limit: number): Promise<CommandView[]> {
    const rows = await expireDueRows(this.#sql, limit);
    return rows.map((row) => this.#collect(row));
  }

  /** Forget the dispatch items collected so far: the caller keeps its own item for the device. */
  discardDispatches(): void {
    this.dispatches.length = 0;
  }

  /** Publish a dispatch work item after commit. */
  requestDispatch(dispatch: PendingDispatch): void {
    this.dispatches.push(dispatch);
  }

  /** Collects a transition row written by one of the ledger's statements: its event and outbox row. */
  record(row: CommandRow, outboxId: OutboxId): CommandView {
    this.outbox.add(String(outboxId));
    const view = toView(row);
    this.changes.push(view);
    return view;
  }

  #collect(row: TransitionedRow): CommandView {
    const view = this.record(row, row.t_outbox);
    if (isTerminal(view.state) && row.device_has_open) this.#keepQueueMoving(view);
    return view;
  }

  /** A command that finished was blocking its device's queue: look at the device again. */
  #keepQueueMoving(view: CommandView): void {
    if (this.dispatches.some((d) => d.tenant === view.tenant && d.deviceId === view.deviceId)) return;
    this.dispatches.push({
      tenant: view.tenant,
      deviceId: view.deviceId,
      reason: 'retry',
      commandId: view.id,
    });
  }
}
