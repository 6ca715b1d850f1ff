import {
  CommandDispatch,
  CommandStateChange,
  type DeviceId,
  decodeBusMessage,
  type TenantId,
} from '@fleetwire/protocol';
import { JetStreamPublisher } from '@fleetwire/runtime';
import { eventually } from '@fleetwire/testkit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateCommandInput } from '../src/create-input.ts';
import { LEDGER_ERROR } from '../src/errors.ts';
import { CommandLedger } from '../src/ledger.ts';
import { type LedgerTestContext, startLedgerContext } from './support.ts';

const TENANT = 'default' as TenantId;
const A = '356307042445001' as DeviceId;
const B = '356307042445002' as DeviceId;
const C = '356307042445003' as DeviceId;
const D = '356307042445004' as DeviceId;
const E = '356307042445005' as DeviceId;

describe('create batches: concurrent creates share one transaction (real PostgreSQL and JetStream)', () => {
  let ctx: LedgerTestContext;
  /** A ledger that waits long enough for every create of a test to join one batch. */
  let ledger: CommandLedger;
  let publisher: JetStreamPublisher;
  const batches: number[] = [];
  const wire: { states: CommandStateChange[]; dispatches: CommandDispatch[] } = {
    states: [],
    dispatches: [],
  };

  beforeAll(async () => {
    ctx = await startLedgerContext('ledger-batch', [A, B, C, D, E]);
    publisher = new JetStreamPublisher(ctx.nats.nc);
    ledger = new CommandLedger({
      sql: ctx.sql,
      publisher,
      subjects: ctx.topology.subjects,
      log: ctx.log,
      createBatch: { lingerMs: 100 },
      onCreateBatch: (size) => batches.push(size),
    });
    ctx.nats.nc.subscribe(ctx.topology.subjects.cmdAll(), {
      callback: (_e, m) => {
        wire.states.push(decodeBusMessage(m.data, CommandStateChange).payload);
      },
    });
    ctx.nats.nc.subscribe(ctx.topology.subjects.dispatchAll(), {
      callback: (_e, m) => {
        wire.dispatches.push(decodeBusMessage(m.data, CommandDispatch).payload);
      },
    });
    await ctx.nats.nc.flush();
  });

  afterAll(async () => {
    await ledger?.flushMarks();
    await publisher?.close();
    await ctx?.close();
  });

  const input = (deviceId: DeviceId, text: string, extra: Partial<CreateCommandInput> = {}) => ({
    tenant: TENANT,
    deviceId,
    name: 'codec12',
    args: { text },
    command: text,
    metadata: { text },
    ...extra,
  });
  /** The device's open commands in the order the dispatcher sends them. */
  const queueOf = async (deviceId: DeviceId) =>
    (
      await ctx.sql<{ id: string }[]>`
        select id from commands where device_id = ${deviceId} and state in ('queued', 'sent', 'delivered')
        order by created_at, id`
    ).map((r) => r.id);

  /** Per outbox row holding transitions of these commands: how many transition rows it lists. */
  const outboxUnitsOf = async (commandIds: string[]) =>
    (
      await ctx.sql<{ n: number }[]>`
        select cardinality(o.seqs) as n from command_outbox o
        where exists (
          select 1 from command_transitions t where t.seq = any(o.seqs) and t.command_id = any(${commandIds}))
        order by o.id`
    ).map((r) => r.n);

  it('gives each of many concurrent creates its own outcome: created, unknown device, replay, conflict', async () => {
    const existing = await ledger.create(input(C, 'custom existing', { idempotencyKey: 'k-existing' }));
    batches.length = 0;
    const settled = await Promise.allSettled([
      ledger.create(input(A, 'custom a1')),
      ledger.create(input('nobody' as DeviceId, 'custom lost')),
      ledger.create(input(B, 'custom b1', { idempotencyKey: 'k-new' })),
      ledger.create(input(B, 'custom b1', { idempotencyKey: 'k-new' })),
      ledger.create(input(B, 'custom b2', { idempotencyKey: 'k-new' })),
      ledger.create(input(C, 'custom existing', { idempotencyKey: 'k-existing' })),
      ledger.create(input(C, 'custom other', { idempotencyKey: 'k-existing' })),
      ledger.create(input(A, 'custom a2')),
      ledger.create(input(A, 'custom a3', { maxAttempts: 0 })),
      ledger.create(input(A, 'custom a4')),
    ]);
    // The invalid one never reached the batch; the other nine shared one transaction.
    expect(batches).toEqual([9]);
    const [a1, unknown, b1, b1again, b2, replay, other, a2, invalid, a4] = settled;
    const value = (s: (typeof settled)[number] | undefined) =>
      s?.status === 'fulfilled'
        ? s.value
        : expect.fail(`rejected: ${String(s?.status === 'rejected' && s.reason)}`);
    const reason = (s: (typeof settled)[number] | undefined) =>
      s?.status === 'rejected' ? s.reason : expect.fail('fulfilled');

    expect(value(a1)).toMatchObject({
      created: true,
      command: { deviceId: A, state: 'queued', command: 'custom a1' },
    });
    expect(reason(unknown)).toMatchObject({
      code: 'UNKNOWN_DEVICE',
      message: 'device nobody is not registered',
    });
    expect(value(b1)).toMatchObject({ created: true, command: { idempotencyKey: 'k-new' } });
    expect(value(b1again)).toEqual({ created: false, command: value(b1).command });
    expect(reason(b2)).toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
      message: `idempotency key "k-new" was already used for a different request (command ${value(b1).command.id})`,
    });
    expect(value(replay)).toEqual({ created: false, command: existing.command });
    expect(reason(other)).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(value(a2).created).toBe(true);
    expect(reason(invalid)).toMatchObject({ code: 'INVALID_INPUT' });
    expect(value(a4).created).toBe(true);

    // One row per created command, each with its queued transition and event.
    const created = [a1, b1, a2, a4].map((s) => value(s).command);
    const [{ n }] =
      (await ctx.sql`select count(*)::int as n from commands where device_id in (${A}, ${B})`) as [
        { n: number },
      ];
    expect(n).toBe(4);
    for (const c of created)
      expect((await ledger.transitions(TENANT, c.id)).map((t) => t.state)).toEqual(['queued']);
    await eventually(() => created.every((c) => wire.states.some((e) => e.commandId === c.id)));
    // A device's commands of one batch go out in the order they were requested.
    expect(await queueOf(A)).toEqual([a1, a2, a4].map((s) => value(s).command.id));
    // No dispatch items: the dispatcher reads the queued events.
    await ctx.nats.nc.flush();
    expect(wire.dispatches.filter((d) => d.deviceId === A || d.deviceId === B)).toEqual([]);
  });

  it('supersedes inside a batch as if its creates came one after another', async () => {
    const older = await ledger.create(input(D, 'setdigout 1?', { supersede: true }));
    const settled = await Promise.all([
      ledger.create(input(D, 'setdigout 1?', { supersede: true, metadata: { n: 1 } })),
      ledger.create(input(D, 'getinfo', { supersede: true })),
      ledger.create(input(D, 'setdigout 1?', { metadata: { n: 2 } })),
      ledger.create(input(D, 'setdigout 1?', { supersede: true, metadata: { n: 3 } })),
    ]);
    const [first, getinfo, unflagged, last] = settled.map((s) => s.command);
    const stateOf = async (id: string) => (await ledger.get(TENANT, id))?.state;
    expect(await stateOf(older.command.id)).toBe('superseded');
    expect((await ledger.get(TENANT, older.command.id))?.error).toBe(`superseded by command ${first!.id}`);
    expect((await ledger.get(TENANT, first!.id))?.error).toBe(`superseded by command ${last!.id}`);
    expect(await stateOf(unflagged!.id)).toBe('superseded');
    expect(await queueOf(D)).toEqual([getinfo!.id, last!.id]);
    expect((await ledger.transitions(TENANT, first!.id)).map((t) => t.state)).toEqual([
      'queued',
      'superseded',
    ]);
    await eventually(() => wire.states.some((e) => e.commandId === first!.id && e.state === 'superseded'));
  });

  it('creates a batch without idempotency keys or supersede in one statement (no BEGIN/COMMIT)', async () => {
    const statements: string[] = [];
    const counted = postgres(ctx.env.databaseUrl, {
      max: 1,
      onnotice: () => {},
      types: { bigint: postgres.BigInt },
      debug: (_connection, query) => statements.push(query),
    });
    const single = new CommandLedger({
      sql: counted,
      publisher,
      subjects: ctx.topology.subjects,
      log: ctx.log,
      createBatch: { lingerMs: 100 },
    });
    try {
      const settled = await Promise.allSettled([
        single.create(input(E, 'custom one 1')),
        single.create(input('356307042449999' as DeviceId, 'custom unknown')),
        single.create(input(E, 'custom one 2')),
      ]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({
        code: LEDGER_ERROR.UNKNOWN_DEVICE,
      });
      const [first, second] = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      expect(first!.created && second!.created).toBe(true);
      expect(await queueOf(E)).toEqual([first!.command.id, second!.command.id]);
      // The published marks' DELETE comes later, off the caller's path; nothing else ran.
      const work = statements.filter(
        (q) => !q.includes('delete from command_outbox') && !q.includes('pg_catalog'),
      );
      expect(work).toHaveLength(1);
      expect(work[0]).toContain('insert into commands');
      await eventually(
        () => wire.states.filter((e) => e.deviceId === E && e.state === 'queued').length === 2,
      );
    } finally {
      await single.flushMarks();
      await counted.end();
    }
  });

  it('marks several units of work published with one DELETE of their outbox rows', async () => {
    const statements: string[] = [];
    const counted = postgres(ctx.env.databaseUrl, {
      max: 1,
      onnotice: () => {},
      types: { bigint: postgres.BigInt },
      debug: (_connection, query) => statements.push(query),
    });
    const marking = new CommandLedger({
      sql: counted,
      publisher,
      subjects: ctx.topology.subjects,
      log: ctx.log,
      marksLingerMs: 2_000,
    });
    try {
      const created = [];
      // One after another: four units of work, four commits, four sets of outbox rows.
      for (const n of [1, 2, 3, 4]) created.push(await marking.create(input(E, `custom marked ${n}`)));
      // Each unit listed its one transition row in an outbox row of its own; nothing was updated.
      expect(await outboxUnitsOf(created.map((c) => c.command.id))).toEqual([1, 1, 1, 1]);
      expect(statements.filter((q) => q.includes('published_at'))).toEqual([]);
      await marking.flushMarks();
      expect(statements.filter((q) => q.includes('delete from command_outbox'))).toHaveLength(1);
      expect(await outboxUnitsOf(created.map((c) => c.command.id))).toEqual([]);
    } finally {
      await counted.end();
    }
  });

  it('lists every transition row of one statement in a single outbox row', async () => {
    const marking = new CommandLedger({
      sql: ctx.sql,
      publisher,
      subjects: ctx.topology.subjects,
      log: ctx.log,
      createBatch: { lingerMs: 100 },
      marksLingerMs: 2_000,
    });
    const created = await Promise.all([1, 2, 3].map((n) => marking.create(input(E, `custom unit ${n}`))));
    expect(await outboxUnitsOf(created.map((c) => c.command.id))).toEqual([3]);
    await marking.flushMarks();
    expect(await outboxUnitsOf(created.map((c) => c.command.id))).toEqual([]);
  });

  it('fails only the request PostgreSQL refuses when a whole batch is refused', async () => {
    batches.length = 0;
    const settled = await Promise.allSettled([
      ledger.create(input(A, 'custom fine 1')),
      // jsonb cannot hold a NUL character: this value fails the batch's insert.
      ledger.create(input(A, 'custom refused', { metadata: { bad: 'nul \u0000 here' } })),
      ledger.create(input(A, 'custom fine 2')),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // The batch of three failed as a whole, then each request was tried alone.
    expect(batches).toEqual([1, 1]);
    expect(await queueOf(A)).toEqual(
      expect.arrayContaining(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.command.id] : []))),
    );
  });
});
