import {
  COMMAND_STATE,
  type CommandState,
  type DeviceId,
  type Subjects,
  type TenantId,
} from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger, Sql } from '@fleetwire/runtime';
import { type CommandRow, type CommandView, type TransitionView, toView } from './command-view.ts';
import {
  type CreateItem,
  type CreateOutcome,
  type CreateResult,
  createBatch,
  createUnkeyedBatch,
  isUnkeyedBatch,
} from './create-batch.ts';
import { CreateBatcher, type CreateBatchOptions } from './create-batcher.ts';
import { type CreateCommandInput, normaliseCreate } from './create-input.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { invalidInput, LEDGER_ERROR, LedgerError } from './errors.ts';
import { LedgerEvents } from './ledger-events.ts';
import { type DispatchReason, LedgerTx, type TransitionChange } from './ledger-tx.ts';
import { type RelayOptions, relayUnpublished } from './outbox-relay.ts';
import { PublishedMarks } from './published-marks.ts';
import { requestHash } from './request-hash.ts';
import { awaitingRows, type DeviceRef, openStates, type TransitionRequest } from './transition-sql.ts';

export interface CommandLedgerDeps {
  sql: Sql;
  publisher: JetStreamPublisher;
  subjects: Subjects;
  log: Logger;
  /** Called once per committed state change (metrics). */
  onChange?: (command: CommandView) => void;
  /** Group commit of concurrent creates (see CreateBatcher); defaults in CREATE_BATCH_DEFAULTS. */
  createBatch?: Partial<CreateBatchOptions>;
  /** Called once per committed create batch with its size (metrics, tests). */
  onCreateBatch?: (size: number) => void;
  /** How long published marks wait for company before their UPDATE (see PublishedMarks). */
  marksLingerMs?: number;
}

export interface ListQuery {
  deviceId?: DeviceId;
  state?: CommandState;
  /** 1–500, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface CommandPage {
  items: CommandView[];
  /** Absent on the last page. */
  nextCursor?: string;
}

export const MAX_PAGE = 500;
const STATES: ReadonlySet<string> = new Set(Object.values(COMMAND_STATE));

/**
 * The command ledger: PostgreSQL holds the truth about every command, JetStream carries what
 * changed (`cmd.<device>.<state>`) and what to look at next (`dispatch.<device>`). Every change is a
 * guarded update whose winner alone writes the transition row and publishes the event.
 * `command_transitions` doubles as the outbox: a row stays unpublished until its event is stored,
 * and `relayUnpublished` republishes what a crash left behind (at least once, see the README).
 */
export class CommandLedger {
  readonly #sql: Sql;
  readonly #events: LedgerEvents;
  readonly #marks: PublishedMarks;
  readonly #onChange: ((command: CommandView) => void) | undefined;
  readonly #onCreateBatch: ((size: number) => void) | undefined;
  readonly #creates: CreateBatcher;

  constructor(deps: CommandLedgerDeps) {
    this.#sql = deps.sql;
    this.#events = new LedgerEvents(deps);
    this.#marks = new PublishedMarks(deps.sql, deps.log, deps.marksLingerMs);
    this.#onChange = deps.onChange;
    this.#onCreateBatch = deps.onCreateBatch;
    this.#creates = new CreateBatcher((items) => this.#createMany(items), deps.createBatch);
  }

  /**
   * Queues a command (or returns the one an idempotency key already created). Concurrent calls
   * share one transaction (group commit); each gets its own outcome and errors.
   */
  async create(input: CreateCommandInput): Promise<CreateResult> {
    const request = normaliseCreate(input);
    const key = input.idempotencyKey ?? null;
    // Only a key is bound to the request's hash: without one, nothing ever compares it.
    const hash = key === null ? null : requestHash(request);
    return this.#creates.submit({ tenant: input.tenant, request, key, hash });
  }

  async get(tenant: TenantId, id: string): Promise<CommandView | undefined> {
    const [row] = await this.#sql<
      CommandRow[]
    >`select * from commands where tenant_id = ${tenant} and id = ${id}`;
    return row ? toView(row) : undefined;
  }

  /** Newest first, keyset-paged by (created_at, id). */
  async list(tenant: TenantId, query: ListQuery = {}): Promise<CommandPage> {
    const limit = query.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
      invalidInput(`limit must be 1-${MAX_PAGE}`);
    if (query.state !== undefined && !STATES.has(query.state)) invalidInput(`unknown state ${query.state}`);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const sql = this.#sql;
    const rows = await sql<(CommandRow & { created_at_text: string })[]>`
      select *, created_at::text as created_at_text from commands
      where tenant_id = ${tenant}
        ${query.deviceId === undefined ? sql`` : sql`and device_id = ${query.deviceId}`}
        ${query.state === undefined ? sql`` : sql`and state = ${query.state}`}
        ${after === undefined ? sql`` : sql`and (created_at, id) < (${after.createdAt}::timestamptz, ${after.id})`}
      order by created_at desc, id desc
      limit ${limit + 1}`;
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const items = page.map(({ created_at_text: _, ...row }) => toView(row));
    return rows.length > limit && last
      ? { items, nextCursor: encodeCursor({ createdAt: last.created_at_text, id: last.id }) }
      : { items };
  }

  /** Every transition of a command, oldest first; NOT_FOUND for an unknown command. */
  async transitions(tenant: TenantId, id: string): Promise<TransitionView[]> {
    await this.#require(tenant, id);
    const rows = await this.#sql<
      { seq: string | bigint; state: CommandState; attempt: number; at: Date; detail: string | null }[]
    >`
      select seq, state, attempt, at, detail from command_transitions
      where tenant_id = ${tenant} and command_id = ${id}
      order by seq`;
    return rows.map((r) => ({
      seq: Number(r.seq),
      state: r.state,
      attempt: r.attempt,
      at: r.at.toISOString(),
      detail: r.detail,
    }));
  }

  /** Cancels an open command; INVALID_TRANSITION once it finished, NOT_FOUND if unknown. */
  async cancel(tenant: TenantId, id: string): Promise<CommandView> {
    const cancelled = await this.#change(tenant, id, {
      to: 'cancelled',
      detail: 'cancelled through the API',
    });
    if (cancelled) return cancelled;
    const current = await this.#require(tenant, id);
    throw new LedgerError(
      LEDGER_ERROR.INVALID_TRANSITION,
      `command ${id} is ${current.state}; only queued, sent or delivered commands can be cancelled`,
    );
  }

  /** The command was written to the device (attempt counts from 1); undefined if the guard lost. */
  markSent(tenant: TenantId, id: string, attempt: number): Promise<CommandView | undefined> {
    return this.#change(tenant, id, { to: 'sent', attempts: attempt, expectAttempts: attempt - 1 });
  }

  /** The device acknowledged receipt (WebSocket devices). */
  markDelivered(tenant: TenantId, id: string): Promise<CommandView | undefined> {
    return this.#change(tenant, id, { to: 'delivered' });
  }

  complete(tenant: TenantId, id: string, response: string): Promise<CommandView | undefined> {
    return this.#change(tenant, id, { to: 'completed', response });
  }

  fail(tenant: TenantId, id: string, error: string): Promise<CommandView | undefined> {
    return this.#change(tenant, id, { to: 'failed', error });
  }

  expire(tenant: TenantId, id: string): Promise<CommandView | undefined> {
    return this.#change(tenant, id, { to: 'expired', error: 'expired: no answer before its time to live' });
  }

  /**
   * In one query: the commands of these devices waiting for an answer (sent or delivered), plus
   * those of the named commands that are still queued (an answer can overtake the commit that marks
   * its command sent), oldest first.
   */
  async awaitingAnswers(
    devices: readonly DeviceRef[],
    named: ReadonlyArray<{ tenant: string; commandId: string }>,
  ): Promise<CommandView[]> {
    return (await awaitingRows(this.#sql, devices, named)).map(toView);
  }

  /**
   * Many guarded transitions (each command at most once) as one autocommit statement, published
   * after it; aligned with `requests`, undefined where the guard did not match.
   */
  transitionMany(requests: readonly TransitionRequest[]): Promise<Array<CommandView | undefined>> {
    if (requests.length === 0) return Promise.resolve([]);
    return this.#autocommit((work) => work.transitionMany(requests));
  }

  async hasOpenCommands(tenant: TenantId, deviceId: DeviceId): Promise<boolean> {
    const [row] = await this.#sql<{ open: boolean }[]>`
      select exists (
        select 1 from commands
        where tenant_id = ${tenant} and device_id = ${deviceId} and state in ${openStates(this.#sql)}
      ) as open`;
    return row?.open === true;
  }

  /** Expires up to `limit` commands past their time to live (the sweeper). */
  expireDue(limit: number): Promise<CommandView[]> {
    return this.#autocommit((work) => work.expireDue(limit));
  }

  /** Publishes a dispatch work item: "look at this device's open commands". Throws if it was not stored. */
  requestDispatch(
    tenant: TenantId,
    deviceId: DeviceId,
    reason: DispatchReason,
    commandId?: string,
  ): Promise<void> {
    return this.#events.dispatch({ tenant, deviceId, reason, ...(commandId ? { commandId } : {}) });
  }

  /** Republishes one batch of state events (and their dispatch items) a crash left unpublished. */
  relayUnpublished(opts: RelayOptions): Promise<number> {
    return relayUnpublished(this.#sql, this.#events, opts);
  }

  /** Waits until the transitions published so far are marked (call before closing the pool). */
  flushMarks(): Promise<void> {
    return this.#marks.flush();
  }

  /**
   * Runs `fn` in one transaction; the state events and dispatch items it produced are published
   * after the commit (and dropped on rollback).
   */
  async unitOfWork<T>(fn: (work: LedgerTx) => Promise<T>): Promise<T> {
    let work: LedgerTx | undefined;
    const result = (await this.#sql.begin((tx) => {
      work = new LedgerTx(tx);
      return fn(work);
    })) as T;
    if (work) await this.#publishAfterCommit(work);
    return result;
  }

  /**
   * A unit of work that is one statement: it commits by itself (no BEGIN/COMMIT round trips), then
   * its events are published. `fn` must issue exactly one statement on `work`.
   */
  async #autocommit<T>(fn: (work: LedgerTx) => Promise<T>): Promise<T> {
    const work = new LedgerTx(this.#sql);
    const result = await fn(work);
    await this.#publishAfterCommit(work);
    return result;
  }

  async #change(tenant: TenantId, id: string, change: TransitionChange): Promise<CommandView | undefined> {
    return this.#autocommit((work) => work.transition(tenant, id, change));
  }

  async #require(tenant: TenantId, id: string): Promise<CommandView> {
    const command = await this.get(tenant, id);
    if (!command) throw new LedgerError(LEDGER_ERROR.NOT_FOUND, `command ${id} not found`);
    return command;
  }

  /**
   * One create batch in one transaction (an unkeyed batch in one statement, see create-batch.ts).
   * If the batch as a whole fails (a value PostgreSQL refuses, a lost connection), each item is
   * tried alone, so one bad request fails only itself.
   */
  async #createMany(items: readonly CreateItem[]): Promise<CreateOutcome[]> {
    try {
      const outcomes = isUnkeyedBatch(items)
        ? await this.#autocommit((work) => createUnkeyedBatch(work, items))
        : await this.unitOfWork((work) => createBatch(work, items));
      this.#onCreateBatch?.(items.length);
      return outcomes;
    } catch (err) {
      if (items.length === 1) return [{ ok: false, error: err as Error }];
      return (await Promise.all(items.map((item) => this.#createMany([item])))).flat();
    }
  }

  /** Publishes the unit's events and items; marks its outbox rows only if all of them were stored. */
  async #publishAfterCommit(work: LedgerTx): Promise<void> {
    const stored = await Promise.all([
      ...work.changes.map((change) => this.#events.change(change)),
      ...work.dispatches.map((d) => this.#events.tryDispatch(d)),
    ]);
    for (const change of work.changes) this.#onChange?.(change);
    if (stored.every(Boolean)) this.#marks.add(work.outbox);
  }
}
