import {
  COMMAND_STATE,
  CommandDispatch,
  CommandStateChange,
  type DeviceId,
  decodeBusMessage,
  jetStreamTopology,
  type TenantId,
} from '@fleetwire/protocol';
import { createLogger, JetStreamPublisher, type NatsHandle, type Sql } from '@fleetwire/runtime';
import type { TestEnv } from '@fleetwire/testkit';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandLedger } from '../src/ledger.ts';
import { isOpen } from '../src/states.ts';
import { openStates } from '../src/transition-sql.ts';
import { type LedgerTestContext, startLedgerContext } from './support.ts';

const TENANT = 'default' as TenantId;
const DEVICE = '356307042441013' as DeviceId;
const OTHER = '356307042441014' as DeviceId;
const log = createLogger('ledger-test', 't', 'silent');

describe('CommandLedger (real PostgreSQL and JetStream)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nats: NatsHandle;
  let ledger: CommandLedger;
  const topology = () => jetStreamTopology({ root: env.subjectRoot });

  let ctx: LedgerTestContext;

  beforeAll(async () => {
    ctx = await startLedgerContext('ledger', [DEVICE, OTHER]);
    ({ env, sql, nats, ledger } = ctx);
  });

  afterAll(() => ctx?.close());

  /** State events stored in the COMMANDS stream for one command, in order. */
  async function events(commandId: string): Promise<CommandStateChange[]> {
    const name = topology().streams.COMMANDS.name;
    const info = await nats.jsm.streams.info(name);
    const out: CommandStateChange[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await nats.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (!m) continue;
      const change = decodeBusMessage(m.data, CommandStateChange).payload;
      if (change.commandId === commandId) out.push(change);
    }
    return out;
  }

  async function dispatchItems(deviceId: DeviceId): Promise<CommandDispatch[]> {
    const name = topology().streams.DISPATCH.name;
    const info = await nats.jsm.streams.info(name);
    const out: CommandDispatch[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await nats.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (!m) continue;
      const item = decodeBusMessage(m.data, CommandDispatch).payload;
      if (item.deviceId === deviceId) out.push(item);
    }
    return out;
  }

  const create = (extra: Partial<Parameters<CommandLedger['create']>[0]> = {}) =>
    ledger.create({
      tenant: TENANT,
      deviceId: DEVICE,
      name: 'codec12',
      args: { text: 'getver' },
      command: 'getver',
      metadata: { job: 'J-1', nested: { list: [1, 'two', null] } },
      ...extra,
    });

  it('queues a command with defaults, a transition row, a queued event and no dispatch item', async () => {
    const { command, created } = await create();
    expect(created).toBe(true);
    expect(command).toMatchObject({
      deviceId: DEVICE,
      state: 'queued',
      attempts: 0,
      maxAttempts: 3,
      attemptTimeoutMs: 30_000,
      command: 'getver',
      metadata: { job: 'J-1', nested: { list: [1, 'two', null] } },
    });
    expect(Date.parse(command.expiresAt) - Date.parse(command.createdAt)).toBe(24 * 3_600_000);
    expect((await ledger.transitions(TENANT, command.id)).map((t) => t.state)).toEqual(['queued']);
    const [queued] = await events(command.id);
    expect(queued).toMatchObject({ state: 'queued', command: 'getver', metadata: command.metadata });
    // The queued event is what tells the dispatcher: a create publishes no dispatch item.
    expect((await dispatchItems(DEVICE)).filter((d) => d.commandId === command.id)).toEqual([]);
  });

  it('refuses an unknown device', async () => {
    await expect(create({ deviceId: '999' as DeviceId })).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE' });
  });

  it('returns the same command for a repeated idempotency key, and conflicts when the body differs', async () => {
    const first = await create({ idempotencyKey: 'key-1' });
    const again = await create({ idempotencyKey: 'key-1' });
    expect(again).toEqual({ command: first.command, created: false });
    await expect(create({ idempotencyKey: 'key-1', metadata: { job: 'other' } })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
    });
    // Racing requests with one key create one command.
    const raced = await Promise.all(Array.from({ length: 6 }, () => create({ idempotencyKey: 'key-race' })));
    expect(raced.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(raced.map((r) => r.command.id)).size).toBe(1);
  });

  it('pages newest first with an opaque cursor, filtered by device and state', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await create({ deviceId: OTHER, command: `custom ${i}` })).command.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ledger.list(TENANT, { deviceId: OTHER, limit: 3, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((c) => c.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await ledger.list(TENANT, { deviceId: OTHER, state: 'completed' })).items).toEqual([]);
    await expect(ledger.list(TENANT, { limit: 501 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(ledger.list(TENANT, { cursor: 'zzz' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('cancels open commands only', async () => {
    const { command } = await create({ command: 'custom cancel' });
    const cancelled = await ledger.cancel(TENANT, command.id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.finishedAt).not.toBeNull();
    await expect(ledger.cancel(TENANT, command.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    await expect(ledger.cancel(TENANT, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(ledger.transitions(TENANT, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await events(command.id)).map((e) => e.state)).toEqual(['queued', 'cancelled']);
  });

  it('supersedes older open commands with the same text when asked', async () => {
    const older = await create({ command: 'setdigout 1?', args: { text: 'setdigout 1?' }, supersede: true });
    const newer = await create({ command: 'setdigout 1?', args: { text: 'setdigout 1?' }, supersede: true });
    const other = await create({ command: 'getinfo', args: { text: 'getinfo' }, supersede: true });
    expect((await ledger.get(TENANT, older.command.id))?.state).toBe('superseded');
    expect((await ledger.get(TENANT, newer.command.id))?.state).toBe('queued');
    expect((await ledger.get(TENANT, other.command.id))?.state).toBe('queued');
    const [, superseded] = await events(older.command.id);
    expect(superseded).toMatchObject({
      state: 'superseded',
      error: `superseded by command ${newer.command.id}`,
    });
    // Without the flag both stay.
    const a = await create({ command: 'getstatus' });
    await create({ command: 'getstatus' });
    expect((await ledger.get(TENANT, a.command.id))?.state).toBe('queued');
  });

  it('lets exactly one of two ledgers racing on the same command win, with one event', async () => {
    const rivalPublisher = new JetStreamPublisher(nats.nc);
    const rival = new CommandLedger({ sql, publisher: rivalPublisher, subjects: topology().subjects, log });
    for (let round = 0; round < 5; round++) {
      const { command } = await create({ command: `race ${round}`, metadata: { round } });
      const sends = await Promise.all([
        ledger.markSent(TENANT, command.id, 1),
        rival.markSent(TENANT, command.id, 1),
      ]);
      expect(sends.filter(Boolean)).toHaveLength(1);
      const done = await Promise.all([
        ledger.complete(TENANT, command.id, 'OK from A'),
        rival.complete(TENANT, command.id, 'OK from B'),
        rival.fail(TENANT, command.id, 'late failure'),
      ]);
      expect(done.filter(Boolean)).toHaveLength(1);
      const states = (await events(command.id)).map((e) => e.state);
      expect(states.filter((s) => s === 'sent')).toHaveLength(1);
      expect(states.filter((s) => s === 'completed' || s === 'failed')).toHaveLength(1);
      const final = await ledger.get(TENANT, command.id);
      expect((await ledger.transitions(TENANT, command.id)).map((t) => t.state)).toEqual([
        'queued',
        'sent',
        final!.state,
      ]);
      const last = (await events(command.id)).at(-1)!;
      expect(last.metadata).toEqual({ round });
      if (final!.state === 'completed') expect(last.response).toMatch(/^OK from/);
    }
    await rivalPublisher.close();
  });

  it('counts attempts: a resend needs the previous attempt count, the transition rows carry it', async () => {
    const { command } = await create({ command: 'custom attempts', maxAttempts: 2 });
    expect(await ledger.markSent(TENANT, command.id, 2)).toBeUndefined();
    expect((await ledger.markSent(TENANT, command.id, 1))?.attempts).toBe(1);
    expect((await ledger.markSent(TENANT, command.id, 2))?.attempts).toBe(2);
    expect((await ledger.transitions(TENANT, command.id)).map((t) => [t.state, t.attempt])).toEqual([
      ['queued', 0],
      ['sent', 1],
      ['sent', 2],
    ]);
    expect((await events(command.id)).map((e) => e.attempt)).toEqual([undefined, 1, 2]);
  });

  it('writes the open states as a literal list that PostgreSQL reads as exactly the open states', async () => {
    for (const state of Object.values(COMMAND_STATE)) {
      const [row] = await sql<{ open: boolean }[]>`select ${state}::text in ${openStates(sql)} as open`;
      expect(row?.open, state).toBe(isOpen(state));
    }
  });

  it('locks rows in key order before a transition of several commands, and takes no extra lock for one', async () => {
    const statements: string[] = [];
    const counted = postgres(env.databaseUrl, {
      max: 1,
      onnotice: () => {},
      debug: (_connection, query) => statements.push(query),
    });
    const watched = new CommandLedger({
      sql: counted,
      publisher: ctx.publisher,
      subjects: topology().subjects,
      log,
    });
    try {
      const [a, b, c] = await Promise.all(
        ['custom a', 'custom b', 'custom c'].map((text) => create({ command: text, args: { text } })),
      );
      const transitions = () => statements.filter((q) => q.includes('update commands c set'));
      await watched.cancel(TENANT, a!.command.id);
      expect(transitions()).toHaveLength(1);
      expect(transitions()[0]).not.toContain('for no key update');
      const both = await watched.transitionMany(
        [b!, c!].map(({ command }) => ({
          tenant: TENANT,
          commandId: command.id,
          change: { to: 'cancelled' as const },
        })),
      );
      expect(both.map((v) => v?.state)).toEqual(['cancelled', 'cancelled']);
      expect(transitions()).toHaveLength(2);
      expect(transitions()[1]).toContain('for no key update');
      expect((await ledger.get(TENANT, a!.command.id))?.state).toBe('cancelled');
    } finally {
      await watched.flushMarks();
      await counted.end();
    }
  });

  it('expires commands past their time to live and asks for the next command of the device', async () => {
    const device = 'expiry-device' as DeviceId;
    await sql`insert into devices (tenant_id, id, kind) values ('default', ${device}, 'tracker')`;
    const short = await create({ deviceId: device, command: 'custom short', ttlMs: 100 });
    const long = await create({ deviceId: device, command: 'custom long' });
    await new Promise((r) => setTimeout(r, 200));
    const expired = await ledger.expireDue(100);
    expect(expired.map((c) => c.id)).toContain(short.command.id);
    expect(expired.map((c) => c.id)).not.toContain(long.command.id);
    expect((await ledger.get(TENANT, short.command.id))?.state).toBe('expired');
    expect((await events(short.command.id)).at(-1)).toMatchObject({ state: 'expired', error: /expired/ });
    expect(await dispatchItems(device)).toContainEqual(expect.objectContaining({ reason: 'retry' }));
    expect(await ledger.expireDue(100)).toEqual([]);
  });
});
