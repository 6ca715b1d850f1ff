import type { DeviceId, TenantId } from '@fleetwire/protocol';
import type { Sql } from '@fleetwire/runtime';
import type { TransactionSql } from 'postgres';
import type { CommandRow } from './command-view.ts';
import type { TransitionChange } from './ledger-tx.ts';
import { ALLOWED_FROM, isTerminal, OPEN_STATES } from './states.ts';

/**
 * The ledger's set-based statements. Each one is a single statement that changes any number of
 * commands, writes their transition rows (the outbox) and reports what the caller needs next, so a
 * change costs one round trip however many commands it touches and needs no BEGIN/COMMIT of its own.
 */

/** A pool, or the connection of a transaction: the statements run on either. */
export type Queryable = Sql | TransactionSql;

export interface TransitionRequest {
  tenant: TenantId | string;
  commandId: string;
  change: TransitionChange;
}

export interface DeviceRef {
  tenant: TenantId | string;
  deviceId: DeviceId | string;
}

/** A command row right after a transition, with its transition row and what the device has left. */
export type TransitionedRow = CommandRow & {
  /** Position of the request in the input. */
  t_ord: number;
  /** The transition row's `seq` (its outbox key). */
  t_seq: string;
  /** Terminal transitions only: the device still has open commands (someone must look at it again). */
  device_has_open: boolean;
  /** The statement's `command_outbox` row (one per statement, whatever the number of rows). */
  t_outbox: string;
};

/**
 * The outbox row of a statement's transition rows, as a CTE named `outbox` over the CTE `source`
 * (which returns `t_next_seq` per row): one row listing every `seq`, none when nothing moved. The
 * ledger deletes it once the events are stored; the relay republishes what is left past its grace.
 */
export function outboxUnit(sql: Queryable, source: string) {
  return sql`
    outbox as (
      insert into command_outbox (seqs)
      select array_agg(t_next_seq) from ${sql.unsafe(source)} having count(*) > 0
      returning id
    )`;
}

/**
 * The open states as a literal SQL list, `('queued', 'sent', 'delivered')`, built once. Not the
 * driver's `sql(array)` helper: that one searches the whole statement text built so far with eight
 * keyword patterns on every execution: a third of the command service's instructions per command.
 */
const OPEN_STATES_LIST = `(${OPEN_STATES.map((state) => {
  if (!/^[a-z_]+$/.test(state)) throw new Error(`state ${state} cannot be written as a SQL literal`);
  return `'${state}'`;
}).join(', ')})`;

/** Open commands, for `state in ${openStates(sql)}`. */
export const openStates = (sql: Queryable) => sql.unsafe(OPEN_STATES_LIST);

/**
 * The rows of an input array as a table, `ord` being each row's position: one JSON parameter
 * (`json_to_recordset`), so one prepared statement whatever the batch size and no per-element
 * escaping in JavaScript. The parameter is typed `text` and cast in SQL; typed json, the driver
 * would encode the already encoded string a second time.
 *
 * The planner assumes 100 rows for a set-returning function, which on a small table makes scanning
 * `commands` look cheaper than looking rows up by key. The always-true range on `ord` brings the
 * estimate down to one row: every join is a key lookup whatever the table size, and the plan does
 * not depend on the batch, so PostgreSQL plans the prepared statement once (an estimate that varied
 * with the batch made it re-plan these statements on every execution).
 */
export function jsonRows(sql: Queryable, rows: readonly object[], columns: string) {
  const withOrd = rows.map((row, ord) => ({ ...row, ord }));
  return sql`(
    select * from json_to_recordset(${JSON.stringify(withOrd)}::text::json) as r(ord int, ${sql.unsafe(columns)})
    where r.ord between 0 and 2147483647)`;
}

/**
 * The transition rows of the commands in the CTE `changed` (with their outbox row), and for terminal
 * ones whether the device has other open commands. `changed` returns each row's `t_detail` and its `t_next_seq`, taken from
 * the column's sequence in the RETURNING so that no join has to find the inserted row again. The
 * statement's snapshot still shows the commands it changed in their old state, so those are judged
 * by their new one.
 */
function recordAndReport(sql: Queryable) {
  return sql`
    recorded as (
      insert into command_transitions (tenant_id, command_id, seq, state, attempt, detail)
      select tenant_id, id, t_next_seq, state, attempts, t_detail from changed
    ),
    ${outboxUnit(sql, 'changed')}
    select ch.*, ch.t_next_seq::text as t_seq, (select id::text from outbox) as t_outbox,
      case when ch.state in ${openStates(sql)} then false else (
        exists (
          select 1 from commands o
          where o.tenant_id = ch.tenant_id and o.device_id = ch.device_id and o.state in ${openStates(sql)}
            and (o.tenant_id, o.id) not in (select tenant_id, id from changed))
        or (ch.tenant_id, ch.device_id) in (
          select tenant_id, device_id from changed where state in ${openStates(sql)})
      ) end as device_has_open
    from changed ch`;
}

/**
 * Applies many guarded transitions at once: each request's command moves only if its current state
 * is one its target allows (and, for a resend, the attempt count still matches). Several rows are
 * locked in key order before the update, so two batches touching the same commands wait for each
 * other instead of deadlocking. Returns the rows that moved, in request order; a request that lost its
 * guard is simply absent. A command may appear only once per call.
 */
export async function applyTransitions(
  sql: Queryable,
  requests: readonly TransitionRequest[],
): Promise<TransitionedRow[]> {
  const seen = new Set<string>();
  const input = requests.map((r) => {
    const key = `${r.tenant}/${r.commandId}`;
    if (seen.has(key)) throw new Error(`command ${r.commandId} appears twice in one transition batch`);
    seen.add(key);
    const c = r.change;
    return {
      tenant_id: r.tenant,
      id: r.commandId,
      to_state: c.to,
      allowed: ALLOWED_FROM[c.to],
      terminal: isTerminal(c.to),
      attempts: c.attempts ?? null,
      expect_attempts: c.expectAttempts ?? null,
      response: c.response ?? null,
      error: c.error ?? null,
      detail: c.detail ?? c.error ?? null,
    };
  });
  if (input.length === 0) return [];
  const columns = `tenant_id text, id text, to_state text, allowed text[], terminal boolean,
    attempts int, expect_attempts int, response text, error text, detail text`;
  // Several rows are locked in key order first, so two batches wait for each other instead of
  // deadlocking. One row needs no order: its UPDATE locks it, and the separate lock (a WAL record
  // and a plan node of its own) is left out — the usual answer at low load is one row.
  const ordered = input.length > 1;
  return sql<TransitionedRow[]>`
    with input as materialized ${jsonRows(sql, input, columns)},
    ${
      ordered
        ? sql`target as materialized (
      select c.tenant_id, c.id from commands c join input i on c.tenant_id = i.tenant_id and c.id = i.id
      order by c.tenant_id, c.id
      for no key update of c
    ),`
        : sql``
    }
    changed as (
      update commands c set
        state = i.to_state,
        attempts = coalesce(i.attempts, c.attempts),
        sent_at = case when i.to_state = 'sent' then now() else c.sent_at end,
        finished_at = case when i.terminal then now() else c.finished_at end,
        response = coalesce(i.response, c.response),
        error = coalesce(i.error, c.error),
        updated_at = now()
      from input i ${ordered ? sql`join target t on t.tenant_id = i.tenant_id and t.id = i.id` : sql``}
      where c.tenant_id = i.tenant_id and c.id = i.id
        and c.state = any(i.allowed)
        and (i.expect_attempts is null or c.attempts = i.expect_attempts)
      returning c.*, i.ord as t_ord, i.detail as t_detail, nextval('command_transitions_seq_seq') as t_next_seq
    ),
    ${recordAndReport(sql)}
    order by ch.t_ord`;
}

/** Expires up to `limit` commands past their deadline, skipping rows other transactions hold. */
export async function expireDueRows(sql: Queryable, limit: number): Promise<TransitionedRow[]> {
  return sql<TransitionedRow[]>`
    with due as materialized (
      select tenant_id, id from commands
      where state in ${openStates(sql)} and expires_at <= now()
      order by expires_at
      limit ${limit}
      for no key update skip locked
    ),
    changed as (
      update commands c set
        state = 'expired', finished_at = now(), updated_at = now(),
        error = 'expired: no answer before ' || to_char(c.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      from due
      where c.tenant_id = due.tenant_id and c.id = due.id and c.state in ${openStates(sql)}
      returning c.*, 0 as t_ord, c.error as t_detail, nextval('command_transitions_seq_seq') as t_next_seq
    ),
    ${recordAndReport(sql)}
    order by ch.expires_at`;
}

/** One device's head as `lockHeadRows` found it. */
export type HeadRow = Partial<CommandRow> & {
  w_tenant: string;
  w_device: string;
  /** The device's oldest open command in the statement's snapshot, or null (idle). */
  w_head: string | null;
  /** The database clock, ms since the epoch. */
  now_ms: string;
};

/**
 * Locks the oldest open command of each device (`FOR NO KEY UPDATE SKIP LOCKED`): a head another
 * transaction holds comes back unlocked (`id` null) instead of being waited for. NO KEY UPDATE does
 * not conflict with the `FOR KEY SHARE` that inserting a transition row takes on its command, so
 * holding a head does not stall other transactions recording transitions. A head that finished
 * after the statement's snapshot is re-checked against its newest version and not locked.
 */
export async function lockHeadRows(sql: Queryable, devices: readonly DeviceRef[]): Promise<HeadRow[]> {
  if (devices.length === 0) return [];
  const wanted = devices.map((d) => ({ tenant_id: d.tenant, device_id: d.deviceId }));
  return sql<HeadRow[]>`
    with wanted as materialized ${jsonRows(sql, wanted, 'tenant_id text, device_id text')},
    heads as (
      select w.tenant_id, w.device_id, (
        select c.id from commands c
        where c.tenant_id = w.tenant_id and c.device_id = w.device_id and c.state in ${openStates(sql)}
        order by c.created_at, c.id limit 1) as head_id
      from wanted w
    ),
    locked as materialized (
      select c.* from commands c join heads h on c.tenant_id = h.tenant_id and c.id = h.head_id
      where c.state in ${openStates(sql)}
      order by c.tenant_id, c.id
      for no key update of c skip locked
    )
    select l.*, h.tenant_id as w_tenant, h.device_id as w_device, h.head_id as w_head,
      (extract(epoch from clock_timestamp()) * 1000)::bigint::text as now_ms
    from heads h left join locked l on l.tenant_id = h.tenant_id and l.id = h.head_id`;
}

/**
 * Commands waiting for an answer (sent or delivered) of the given devices, plus the named commands
 * that are still queued (an answer may overtake the commit that marks its command sent), oldest first.
 */
export async function awaitingRows(
  sql: Queryable,
  devices: readonly DeviceRef[],
  named: ReadonlyArray<{ tenant: string; commandId: string }>,
): Promise<CommandRow[]> {
  if (devices.length === 0 && named.length === 0) return [];
  const wanted = distinct(devices.map((d) => ({ tenant_id: d.tenant, device_id: d.deviceId })));
  // Distinct, or a named command would come back once per answer naming it.
  const ids = distinct(named.map((n) => ({ tenant_id: n.tenant, id: n.commandId })));
  return sql<CommandRow[]>`
    select c.* from commands c
    join ${jsonRows(sql, wanted, 'tenant_id text, device_id text')} w
      on c.tenant_id = w.tenant_id and c.device_id = w.device_id
    where c.state in ('sent', 'delivered')
    union all
    select c.* from commands c
    join ${jsonRows(sql, ids, 'tenant_id text, id text')} n on c.tenant_id = n.tenant_id and c.id = n.id
    where c.state = 'queued'
    order by created_at, id`;
}

function distinct<T extends Record<string, unknown>>(rows: readonly T[]): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(JSON.stringify(Object.values(row)), row);
  return [...byKey.values()];
}
