import { randomUUID } from 'node:crypto';
import {
  COMMAND_STATE,
  type CommandState,
  type DeviceId,
  type Subjects,
  type TenantId,
} from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger, Sql } from '@fleetwire/runtime';
import type { TransactionSql } from 'postgres';
import { type CommandRow, type CommandView, type TransitionView, toView } from './command-view.ts';
import { type CreateCommandInput, type NormalisedCreate, normaliseCreate } from './create-input.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { invalidInput, LEDGER_ERROR, LedgerError } from './errors.ts';
import { LedgerEvents } from './ledger-events.ts';
import { type DispatchReason, LedgerTx, type TransitionChange } from './ledger-tx.ts';
import { type RelayOptions, relayUnpublished } from './outbox-relay.ts';
import { PublishedMarks } from './published-marks.ts';
import { requestHash } from './request-hash.ts';
import { OPEN_STATES } from './states.ts';

export interface CommandLedgerDeps {
  sql: Sql;
  publisher: JetStreamPublisher;
  subjects: Subjects;
  log: Logger;
  /** Called once per committed state change (metrics). */
  onChange?: (command: CommandView) => void;
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

  constructor(deps: CommandLedgerDeps) {
    this.#sql = deps.sql;
    this.#events = new LedgerEvents(deps);
    this.#marks = new PublishedMarks(deps.sql, deps.log);
    this.#onChange = deps.onChange;
  }

  /** Queues a command (or returns the one an idempotency key already created). */
  async create(input: CreateCommandInput): Promise<{ command: CommandView; created: boolean }> {
    const request = normaliseCreate(input);
    const hash = requestHash(request);
    const outcome = await this.unitOfWork(async (work) => {
      const tx = work.sql;
      const [device] =
        await tx`select 1 from devices where tenant_id = ${input.tenant} and id = ${request.deviceId}`;
      if (!device)
        throw new LedgerError(LEDGER_ERROR.UNKNOWN_DEVICE, `device ${request.deviceId} is not registered`);
      const key = input.idempotencyKey ?? null;
      if (key !== null) {
        const existing = await this.#byIdempotencyKey(tx, input.tenant, key, hash);
        if (existing) return { command: existing, created: false };
      }
      const row = await this.#insert(tx, input.tenant, request, key, hash);
      if (!row) {
        // A concurrent request with the same key won the insert.
        const existing = await this.#byIdempotencyKey(tx, input.tenant, key!, hash);
        return { command: existing!, created: false };
      }
      if (request.supersede && request.command !== null) await this.#supersedeOlder(work, row);
      const command = await work.record(row, null);
      work.requestDispatch({
        tenant: command.tenant,
        deviceId: command.deviceId,
        reason: 'new',
        commandId: command.id,
      });
      return { command, created: true };
    });
    return outcome;
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

  /** Commands of a device waiting for an answer (sent or delivered), oldest first. */
  async awaitingAnswer(tenant: TenantId, deviceId: DeviceId): Promise<CommandView[]> {
    const rows = await this.#sql<CommandRow[]>`
      select * from commands
      where tenant_id = ${tenant} and device_id = ${deviceId} and state in ('sent', 'delivered')
      order by created_at, id`;
    return rows.map(toView);
  }

  async hasOpenCommands(tenant: TenantId, deviceId: DeviceId): Promise<boolean> {
    const [row] = await this.#sql<{ open: boolean }[]>`
      select exists (
        select 1 from commands
        where tenant_id = ${tenant} and device_id = ${deviceId} and state in ${this.#sql(OPEN_STATES as unknown as string[])}
      ) as open`;
    return row?.open === true;
  }

  /** Expires up to `limit` commands past their time to live (the sweeper). */
  expireDue(limit: number): Promise<CommandView[]> {
    return this.unitOfWork((work) => work.expireDue(limit));
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

  async #change(tenant: TenantId, id: string, change: TransitionChange): Promise<CommandView | undefined> {
    return this.unitOfWork((work) => work.transition(tenant, id, change));
  }

  async #require(tenant: TenantId, id: string): Promise<CommandView> {
    const command = await this.get(tenant, id);
    if (!command) throw new LedgerError(LEDGER_ERROR.NOT_FOUND, `command ${id} not found`);
    return command;
  }

  async #byIdempotencyKey(
    tx: TransactionSql,
    tenant: TenantId,
    key: string,
    hash: string,
  ): Promise<CommandView | undefined> {
    const [row] = await tx<CommandRow[]>`
      select * from commands where tenant_id = ${tenant} and idempotency_key = ${key}`;
    if (!row) return undefined;
    if (row.request_hash !== hash) {
      throw new LedgerError(
        LEDGER_ERROR.IDEMPOTENCY_CONFLICT,
        `idempotency key ${JSON.stringify(key)} was already used for a different request (command ${row.id})`,
      );
    }
    return toView(row);
  }

  async #insert(
    tx: TransactionSql,
    tenant: TenantId,
    r: NormalisedCreate,
    key: string | null,
    hash: string,
  ): Promise<CommandRow | undefined> {
    const [row] = await tx<CommandRow[]>`
      insert into commands (
        tenant_id, id, device_id, name, args, command_text, metadata, state,
        max_attempts, attempt_timeout_ms, expires_at, idempotency_key, request_hash)
      values (
        ${tenant}, ${randomUUID()}, ${r.deviceId}, ${r.name}, ${tx.json(r.args as never)}, ${r.command},
        ${tx.json(r.metadata as never)}, 'queued', ${r.maxAttempts}, ${r.attemptTimeoutMs},
        now() + ${r.ttlMs} * interval '1 millisecond', ${key}, ${key === null ? null : hash})
      on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing
      returning *`;
    return row;
  }

  /** The seed's rule: of several open commands with the same text only the newest stays. */
  async #supersedeOlder(work: LedgerTx, newer: CommandRow): Promise<void> {
    const older = await work.sql<{ id: string }[]>`
      select id from commands
      where tenant_id = ${newer.tenant_id} and device_id = ${newer.device_id} and command_text = ${newer.command_text}
        and id <> ${newer.id} and state in ${work.sql(OPEN_STATES as unknown as string[])}
      order by created_at, id
      for update`;
    for (const { id } of older) {
      await work.transition(newer.tenant_id as TenantId, id, {
        to: 'superseded',
        error: `superseded by command ${newer.id}`,
      });
    }
    // The newer command's own 'new' dispatch covers the device; no extra one for these.
    work.discardDispatches();
  }

  /** Publishes the unit's events and items; marks its outbox rows only if all of them were stored. */
  async #publishAfterCommit(work: LedgerTx): Promise<void> {
    const stored = await Promise.all([
      ...work.changes.map((change) => this.#events.change(change)),
      ...work.dispatches.map((d) => this.#events.tryDispatch(d)),
    ]);
    for (const change of work.changes) this.#onChange?.(change);
    if (stored.every(Boolean)) this.#marks.add(work.recorded);
  }
}
