import {
  CommandDispatch,
  CommandStateChange,
  type DeviceId,
  decodeBusMessage,
  jetStreamTopology,
  type TenantId,
} from '@fleetwire/protocol';
import { createLogger, JetStreamPublisher, type NatsHandle, type Sql } from '@fleetwire/runtime';
import { eventually, type TestEnv } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandLedger } from '../src/ledger.ts';
import { type LedgerTestContext, startLedgerContext } from './support.ts';

const TENANT = 'default' as TenantId;
const DEVICE = '356307042442001' as DeviceId;
const FLEET = Array.from({ length: 6 }, (_, i) => `35630704244300${i}` as DeviceId);
const log = createLogger('outbox-test', 't', 'silent');
/** The relay in these tests takes every pending row at once. */
const NOW = { graceMs: 0, limit: 500 };

describe('command outbox (real PostgreSQL and JetStream)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nats: NatsHandle;
  let ledger: CommandLedger;
  /** A process that dies right after its commits: every publish fails. */
  let crashed: CommandLedger;
  /** Every publish on the wire, including the ones JetStream then drops as duplicates. */
  const wire: { states: CommandStateChange[]; dispatches: CommandDispatch[] } = {
    states: [],
    dispatches: [],
  };
  const topology = () => jetStreamTopology({ root: env.subjectRoot });

  let ctx: LedgerTestContext;

  beforeAll(async () => {
    ctx = await startLedgerContext('ledger-outbox', [DEVICE, ...FLEET]);
    ({ env, sql, nats, ledger } = ctx);
    const dead = new JetStreamPublisher(nats.nc);
    await dead.close();
    crashed = new CommandLedger({ sql, publisher: dead, subjects: topology().subjects, log });
    nats.nc.subscribe(topology().subjects.cmdAll(), {
      callback: (_e, m) => {
        wire.states.push(decodeBusMessage(m.data, CommandStateChange).payload);
      },
    });
    nats.nc.subscribe(topology().subjects.dispatchAll(), {
      callback: (_e, m) => {
        wire.dispatches.push(decodeBusMessage(m.data, CommandDispatch).payload);
      },
    });
    await nats.nc.flush();
  });

  afterAll(() => ctx?.close());

  /** The relay below runs with no grace period: first let the live ledger mark what it published. */
  const relayNow = async () => {
    await ledger.flushMarks();
    return ledger.relayUnpublished(NOW);
  };
  const create = (l: CommandLedger, text: string, deviceId = DEVICE) =>
    l.create({
      tenant: TENANT,
      deviceId,
      name: 'codec12',
      args: { text },
      command: text,
      metadata: { text },
    });
  const onWire = (id: string, state?: string) =>
    wire.states.filter((e) => e.commandId === id && (state === undefined || e.state === state));
  /** The command's transitions still listed in an outbox row (their events not known to be stored). */
  const unpublished = async (id: string) =>
    (
      await sql<{ state: string }[]>`
        select state from command_transitions t
        where tenant_id = ${TENANT} and command_id = ${id}
          and exists (select 1 from command_outbox o where t.seq = any(o.seqs))
        order by seq`
    ).map((r) => r.state);
  /** Copies of one command's events the COMMANDS stream stored. */
  async function stored(id: string): Promise<number> {
    const name = topology().streams.COMMANDS.name;
    const info = await nats.jsm.streams.info(name);
    let count = 0;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await nats.jsm.streams.getMessage(name, { seq }).catch(() => null);
      if (m && decodeBusMessage(m.data, CommandStateChange).payload.commandId === id) count++;
    }
    return count;
  }

  it('marks a normal transition published without any relay, and the relay then has nothing to do', async () => {
    const { command } = await create(ledger, 'getver');
    await ledger.markSent(TENANT, command.id, 1);
    await ledger.complete(TENANT, command.id, 'Ver:1');
    await eventually(async () => (await unpublished(command.id)).length === 0, 5_000, 'rows marked');
    expect(await relayNow()).toBe(0);
    expect(onWire(command.id).map((e) => e.state)).toEqual(['queued', 'sent', 'completed']);
  });

  it('relays a create whose process died before publishing: its queued event, exactly once', async () => {
    const { command } = await create(crashed, 'getinfo');
    expect(await unpublished(command.id)).toEqual(['queued']);
    // Too young: the process that wrote it may still be publishing.
    expect(await ledger.relayUnpublished({ graceMs: 60_000, limit: 500 })).toBe(0);
    expect(onWire(command.id)).toEqual([]);

    expect(await relayNow()).toBe(1);
    const [queued] = await eventually(() => onWire(command.id).length > 0 && onWire(command.id));
    expect(queued).toMatchObject({
      commandId: command.id,
      state: 'queued',
      command: 'getinfo',
      metadata: { text: 'getinfo' },
      at: Date.parse(command.updatedAt),
    });
    expect(await unpublished(command.id)).toEqual([]);
    // The queued event is what the dispatcher reads (consumer `command-queued`): no dispatch item.
    await nats.nc.flush();
    expect(wire.dispatches.filter((d) => d.commandId === command.id)).toEqual([]);
    expect(await relayNow()).toBe(0);
    await nats.nc.flush();
    expect(onWire(command.id)).toHaveLength(1);
    expect(await stored(command.id)).toBe(1);
  });

  it('relays a lost terminal event as it was (response, attempt, time) and moves the device queue on', async () => {
    const { command: first } = await create(ledger, 'custom first');
    const { command: next } = await create(ledger, 'custom next');
    await ledger.markSent(TENANT, first.id, 1);
    const completed = await crashed.complete(TENANT, first.id, 'OK first');
    await ledger.flushMarks();
    expect(await unpublished(first.id)).toEqual(['completed']);
    // The command moved on before the relay ran; its event must still describe the transition.
    expect(await relayNow()).toBe(1);
    const event = await eventually(() => onWire(first.id, 'completed')[0]);
    expect(event).toEqual({
      tenant: TENANT,
      deviceId: DEVICE,
      commandId: first.id,
      state: 'completed',
      at: Date.parse(completed!.updatedAt),
      name: 'codec12',
      command: 'custom first',
      attempt: 1,
      response: 'OK first',
      metadata: { text: 'custom first' },
    });
    await eventually(() =>
      wire.dispatches.some((d) => d.commandId === first.id && d.reason === 'retry' && d.deviceId === DEVICE),
    );
    expect((await ledger.get(TENANT, next.id))?.state).toBe('queued');
  });

  it('a republish of an event that was stored but not marked is dropped by the stream (msgId)', async () => {
    const { command } = await create(ledger, 'custom lost mark');
    await eventually(async () => (await unpublished(command.id)).length === 0, 5_000, 'row marked');
    // The process died after the PubAck, before its DELETE: the unit's outbox row is still there.
    await sql`
      insert into command_outbox (at, seqs)
      select min(at), array_agg(seq) from command_transitions where tenant_id = ${TENANT} and command_id = ${command.id}`;
    expect(await relayNow()).toBe(1);
    await eventually(() => onWire(command.id).length === 2);
    expect(onWire(command.id)[1]).toEqual(onWire(command.id)[0]);
    expect(await stored(command.id)).toBe(1);
    expect(await unpublished(command.id)).toEqual([]);
  });

  it('drops an outbox row whose transitions are gone (their device was deleted)', async () => {
    await ledger.flushMarks();
    const [orphan] = await sql<{ id: string }[]>`
      insert into command_outbox (at, seqs) values (now() - interval '1 minute', '{-1,-2}') returning id::text as id`;
    expect(await relayNow()).toBe(0);
    const left = await sql`select 1 from command_outbox where id = ${orphan!.id}`;
    expect(left).toHaveLength(0);
  });

  it('two relays at once publish each pending row once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++)
      ids.push((await create(crashed, `custom ${i}`, FLEET[i % FLEET.length])).command.id);
    const otherPublisher = new JetStreamPublisher(nats.nc);
    const other = new CommandLedger({ sql, publisher: otherPublisher, subjects: topology().subjects, log });
    const drain = async (l: CommandLedger) => {
      let total = 0;
      for (let n = -1; n !== 0; total += n) n = await l.relayUnpublished({ graceMs: 0, limit: 2 });
      return total;
    };
    await ledger.flushMarks();
    const [a, b] = await Promise.all([drain(ledger), drain(other)]);
    expect(a + b).toBe(30);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    await nats.nc.flush();
    await eventually(() => ids.every((id) => onWire(id).length > 0));
    for (const id of ids) expect(onWire(id).map((e) => e.state)).toEqual(['queued']);
    const [left] = await sql<{ n: number }[]>`select count(*)::int as n from command_outbox`;
    expect(left?.n).toBe(0);
    await otherPublisher.close();
  });
});
