import { randomUUID } from 'node:crypto';
import type { TenantId } from '@fleetwire/protocol';
import { type CommandRow, type CommandView, toView } from './command-view.ts';
import type { NormalisedCreate } from './create-input.ts';
import { LEDGER_ERROR, LedgerError } from './errors.ts';
import type { LedgerTx } from './ledger-tx.ts';
import { jsonRows, openStates, outboxUnit, type Queryable } from './transition-sql.ts';

/** One create request, validated and hashed, waiting for its batch. */
export interface CreateItem {
  tenant: TenantId;
  request: NormalisedCreate;
  /** The idempotency key, or null. */
  key: string | null;
  /** What the key is bound to: the hash of the normalised request; null without a key. */
  hash: string | null;
}

export type CreateResult = { command: CommandView; created: boolean };
export type CreateOutcome = { ok: true; value: CreateResult } | { ok: false; error: Error };

/** What a lookup found for one item: is its device registered, does its key name a command already. */
type LookupRow = Partial<CommandRow> & { i_ord: number; device_known: boolean };

type Plan =
  | { kind: 'done'; outcome: CreateOutcome }
  /** Insert this one (the first item of the batch with its key, if any). */
  | { kind: 'insert' }
  /** Same key as an earlier item of this batch: replays that item's command, or conflicts with it. */
  | { kind: 'follow'; leader: number };

/**
 * Creates a batch of commands in the caller's transaction with set-based statements: one lookup
 * (devices registered, idempotency keys already used), one insert of every new command with its
 * `queued` transition row, and, when asked, one supersede of the older open commands with the same
 * text. Every item gets its own outcome: an unknown device or a key reused for another request fails
 * only that item, with the error a single create would have thrown.
 */
export async function createBatch(work: LedgerTx, items: readonly CreateItem[]): Promise<CreateOutcome[]> {
  const sql = work.sql;
  const plans = planItems(items, await lookup(sql, items));
  const toInsert = plans.flatMap((p, i) => (p.kind === 'insert' ? [i] : []));
  const inserted = await insertCommands(
    work,
    toInsert.map((i) => items[i]!),
  );
  const created = new Map<number, CommandView>();
  const lost: number[] = [];
  toInsert.forEach((itemIndex, n) => {
    const view = inserted[n];
    if (view) created.set(itemIndex, view);
    else lost.push(itemIndex);
  });
  // A concurrent transaction inserted the same key first (ON CONFLICT DO NOTHING waited for it).
  const existing = new Map<number, Partial<CommandRow>>();
  if (lost.length > 0) {
    const found = await lookup(
      sql,
      lost.map((i) => items[i]!),
    );
    for (const row of found) existing.set(lost[row.i_ord]!, row);
  }
  await supersedeOlder(work, items, created);
  // The superseded commands' `retry` items are not needed: the new command's queued event makes the
  // dispatcher look at the device anyway (see consumers.ts).
  work.discardDispatches();
  return plans.map((plan, i): CreateOutcome => {
    if (plan.kind === 'done') return plan.outcome;
    const leader = plan.kind === 'insert' ? i : plan.leader;
    const command = created.get(leader);
    if (!command) return replayOrConflict(items[i]!, existing.get(leader));
    if (leader === i) return { ok: true, value: { command, created: true } };
    return items[leader]!.hash === items[i]!.hash
      ? { ok: true, value: { command, created: false } }
      : conflict(items[i]!, command.id);
  });
}

/**
 * True when a batch needs neither the lookup nor a second statement: no idempotency key (nothing to
 * replay or conflict with) and no supersede. The usual case, and `createUnkeyedBatch` handles it.
 */
export function isUnkeyedBatch(items: readonly CreateItem[]): boolean {
  return items.every((item) => item.key === null && !item.request.supersede);
}

/**
 * `createBatch` for an unkeyed batch in ONE statement, which commits by itself: the insert skips
 * items whose device is not registered, and those fail as unknown devices. One round trip and one
 * commit instead of BEGIN, lookup, insert and COMMIT.
 */
export async function createUnkeyedBatch(
  work: LedgerTx,
  items: readonly CreateItem[],
): Promise<CreateOutcome[]> {
  const inserted = await insertCommands(work, items, { knownDevicesOnly: true });
  const created = new Map<number, CommandView>();
  inserted.forEach((view, i) => {
    if (view) created.set(i, view);
  });
  return items.map((item, i): CreateOutcome => {
    const command = created.get(i);
    return command
      ? { ok: true, value: { command, created: true } }
      : { ok: false, error: unknownDevice(item) };
  });
}

function planItems(items: readonly CreateItem[], found: readonly LookupRow[]): Plan[] {
  const byOrd = new Map(found.map((r) => [r.i_ord, r]));
  const leaders = new Map<string, number>();
  return items.map((item, i): Plan => {
    const row = byOrd.get(i);
    if (!row?.device_known) return { kind: 'done', outcome: { ok: false, error: unknownDevice(item) } };
    if (item.key === null) return { kind: 'insert' };
    if (row.id) return { kind: 'done', outcome: replayOrConflict(item, row) };
    // Several items with one new key: the first inserts, the others replay it or conflict with it.
    const keyOf = `${item.tenant}\u0000${item.key}`;
    const leader = leaders.get(keyOf);
    if (leader !== undefined) return { kind: 'follow', leader };
    leaders.set(keyOf, i);
    return { kind: 'insert' };
  });
}

function replayOrConflict(item: CreateItem, existing: Partial<CommandRow> | undefined): CreateOutcome {
  if (!existing?.id) return { ok: false, error: new Error('idempotency key vanished after a conflict') };
  if (existing.request_hash !== item.hash) return conflict(item, existing.id);
  return { ok: true, value: { command: toView(existing as CommandRow), created: false } };
}

function conflict(item: CreateItem, commandId: string): CreateOutcome {
  return {
    ok: false,
    error: new LedgerError(
      LEDGER_ERROR.IDEMPOTENCY_CONFLICT,
      `idempotency key ${JSON.stringify(item.key)} was already used for a different request (command ${commandId})`,
    ),
  };
}

function unknownDevice(item: CreateItem): LedgerError {
  return new LedgerError(LEDGER_ERROR.UNKNOWN_DEVICE, `device ${item.request.deviceId} is not registered`);
}

/** Per item: is its device registered, and which command its idempotency key names (if any). */
async function lookup(sql: Queryable, items: readonly CreateItem[]): Promise<LookupRow[]> {
  const input = items.map((item) => ({
    tenant_id: item.tenant,
    device_id: item.request.deviceId,
    idempotency_key: item.key,
  }));
  return sql<LookupRow[]>`
    select i.ord as i_ord,
      exists (select 1 from devices d where d.tenant_id = i.tenant_id and d.id = i.device_id) as device_known,
      c.*
    from ${jsonRows(sql, input, 'tenant_id text, device_id text, idempotency_key text')} i
    left join commands c on c.tenant_id = i.tenant_id and c.idempotency_key = i.idempotency_key
      and c.idempotency_key is not null`;
}

/**
 * Inserts the commands and their `queued` transition rows in one statement; the result is aligned
 * with `items`, undefined where a concurrent transaction had inserted the same idempotency key.
 * All rows of a transaction share `created_at` (its start), and the queue order is
 * `(created_at, id)`: the ids are random UUIDs handed out in sorted order, so commands of one
 * device in one batch go out in the order they were requested. With `knownDevicesOnly`, items whose
 * device is not registered are skipped (undefined) instead of failing the statement on the FK.
 */
async function insertCommands(
  work: LedgerTx,
  items: readonly CreateItem[],
  opts: { knownDevicesOnly: boolean } = { knownDevicesOnly: false },
): Promise<Array<CommandView | undefined>> {
  if (items.length === 0) return [];
  const ids = items.map(() => randomUUID()).sort();
  const input = items.map((item, n) => {
    const r = item.request;
    return {
      tenant_id: item.tenant,
      id: ids[n],
      device_id: r.deviceId,
      name: r.name,
      args: r.args,
      command_text: r.command,
      metadata: r.metadata,
      max_attempts: r.maxAttempts,
      attempt_timeout_ms: r.attemptTimeoutMs,
      ttl_ms: r.ttlMs,
      idempotency_key: item.key,
      request_hash: item.hash,
    };
  });
  const columns = `tenant_id text, id text, device_id text, name text, args jsonb, command_text text,
    metadata jsonb, max_attempts int, attempt_timeout_ms int, ttl_ms bigint, idempotency_key text,
    request_hash text`;
  // The transition's seq comes from its sequence in the RETURNING: no join finds the row again.
  const rows = await work.sql<(CommandRow & { t_next_seq: unknown; t_seq: string; t_outbox: string })[]>`
    with inserted as (
      insert into commands (
        tenant_id, id, device_id, name, args, command_text, metadata, state,
        max_attempts, attempt_timeout_ms, expires_at, idempotency_key, request_hash)
      select tenant_id, id, device_id, name, args, command_text, metadata, 'queued',
        max_attempts, attempt_timeout_ms, now() + ttl_ms * interval '1 millisecond', idempotency_key, request_hash
      from ${jsonRows(work.sql, input, columns)} i
      ${opts.knownDevicesOnly ? work.sql`where exists (select 1 from devices d where d.tenant_id = i.tenant_id and d.id = i.device_id)` : work.sql``}
      order by ord
      on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing
      returning *, nextval('command_transitions_seq_seq') as t_next_seq
    ),
    recorded as (
      insert into command_transitions (tenant_id, command_id, seq, state, attempt)
      select tenant_id, id, t_next_seq, state, attempts from inserted
    ),
    ${outboxUnit(work.sql, 'inserted')}
    select *, t_next_seq::text as t_seq, (select id::text from outbox) as t_outbox from inserted`;
  const byId = new Map(rows.map((row) => [row.id, row]));
  return input.map((i) => {
    const row = byId.get(i.id!);
    if (!row) return undefined;
    const { t_seq: _s, t_next_seq: _n, t_outbox, ...command } = row;
    return work.record(command, t_outbox);
  });
}

/**
 * The seed's rule: of several open commands of a device with the same text only the newest stays.
 * Every open command older than one of this batch's `supersede` commands becomes `superseded` by the
 * first of them that is newer — across the batch as well, so a batch behaves like its items one
 * after another. One statement finds and locks them (in key order), one moves them.
 */
async function supersedeOlder(
  work: LedgerTx,
  items: readonly CreateItem[],
  created: ReadonlyMap<number, CommandView>,
): Promise<void> {
  const newer = [...created.entries()]
    .filter(([i, c]) => items[i]!.request.supersede && c.command !== null)
    .map(([, c]) => ({ tenant_id: c.tenant, id: c.id }));
  if (newer.length === 0) return;
  const sql = work.sql;
  const victims = await sql<{ tenant_id: string; id: string; by_id: string }[]>`
    with newer as (
      select c.tenant_id, c.device_id, c.command_text, c.id, c.created_at
      from ${jsonRows(sql, newer, 'tenant_id text, id text')} n
      join commands c on c.tenant_id = n.tenant_id and c.id = n.id
    )
    select o.tenant_id, o.id, (
        select n.id from newer n
        where n.tenant_id = o.tenant_id and n.device_id = o.device_id and n.command_text = o.command_text
          and (n.created_at, n.id) > (o.created_at, o.id)
        order by n.created_at, n.id limit 1) as by_id
    from commands o
    where o.state in ${openStates(sql)}
      and exists (
        select 1 from newer n
        where n.tenant_id = o.tenant_id and n.device_id = o.device_id and n.command_text = o.command_text
          and (n.created_at, n.id) > (o.created_at, o.id))
    order by o.tenant_id, o.id
    for no key update of o`;
  await work.transitionMany(
    victims.map((v) => ({
      tenant: v.tenant_id,
      commandId: v.id,
      change: { to: 'superseded' as const, error: `superseded by command ${v.by_id}` },
    })),
  );
}
