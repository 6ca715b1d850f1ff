import { edgeTcp } from '@fleetwire/edge-tcp/main';
import { CommandLedger, type CommandView, type CreateCommandInput } from '@fleetwire/ledger';
import {
  CommandAckBody,
  type CommandReply,
  CommandRequestBody,
  CommandStateChange,
  ControlErrorBody,
  type DeviceId,
  decodeBusMessage,
  decodePayload,
  decodeProtoMsg,
  encodePayload,
  encodeProtoMsg,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  type TenantId,
} from '@fleetwire/protocol';
import {
  connectNats,
  connectPostgres,
  createLogger,
  JetStreamPublisher,
  migrate,
  type NatsHandle,
  provision,
  provisioningFor,
  type RunningService,
  type Sql,
  startService,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { connectTestNats, createTestEnv, eventually, type TestEnv, TrackerClient } from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Downlink } from '../src/adapters/downlink.ts';
import { AttemptTimers } from '../src/attempt-timers.ts';
import { Dispatcher } from '../src/dispatcher.ts';
import { type CommandInstance, command } from '../src/main.ts';
import { commandMetrics } from '../src/metrics.ts';
import { ReplyHandler } from '../src/replies.ts';
import type { PendingReply } from '../src/reply-plan.ts';

const TENANT = 'default' as TenantId;
const log = createLogger('command-batches-test', 't', 'silent');
const device = (n: number) => `3563070424470${String(n).padStart(2, '0')}` as DeviceId;

/** A migrated database and the ledger's streams, without the command service consuming them. */
describe('batch paths of the command service against a real ledger (real PostgreSQL and NATS)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nats: NatsHandle;
  let publisher: JetStreamPublisher;
  let ledger: CommandLedger;
  /** The edges of these tests: real NATS responders on `down.<device>`. */
  let edges: NatsConnection;
  const subjects = () => jetStreamTopology({ root: env.subjectRoot }).subjects;

  beforeAll(async () => {
    env = await createTestEnv('command_batches');
    sql = connectPostgres(env.databaseUrl, { appName: 'command-batches-test', max: 8 });
    await migrate(sql, migrations(), log);
    nats = await connectNats(env.natsUrl, 'command-batches-test', log);
    const topology = jetStreamTopology({ root: env.subjectRoot });
    await provision(nats, provisioningFor(topology, { streams: ['COMMANDS', 'DISPATCH'] }), log);
    publisher = new JetStreamPublisher(nats.nc);
    ledger = new CommandLedger({ sql, publisher, subjects: topology.subjects, log });
    for (let n = 1; n <= 20; n++)
      await sql`insert into devices (tenant_id, id, kind) values ('default', ${device(n)}, 'tracker')`;
    edges = await connectTestNats(env);
  });

  afterAll(async () => {
    await edges?.close();
    await ledger?.flushMarks();
    await publisher?.close();
    await nats?.nc.close();
    await sql?.end();
  });

  const create = async (deviceId: DeviceId, text: string | null, extra: Partial<CreateCommandInput> = {}) =>
    (
      await ledger.create({
        tenant: TENANT,
        deviceId,
        name: text === null ? 'reboot' : 'codec12',
        args: text === null ? {} : { text },
        ...(text === null ? {} : { command: text }),
        ...extra,
      })
    ).command;
  const sent = async (deviceId: DeviceId, text: string | null) => {
    const c = await create(deviceId, text);
    expect(await ledger.markSent(TENANT, c.id, 1)).toBeDefined();
    return c;
  };
  const get = async (c: CommandView) => (await ledger.get(TENANT, c.id))!;
  const answer = (
    deviceId: DeviceId,
    typ: string,
    patch: Partial<Pick<CommandReply, 'commandId' | 'text' | 'output' | 'ok'>> = {},
  ): PendingReply => ({
    typ,
    reply: { tenant: TENANT, deviceId, receivedAt: Date.now(), ...patch },
    lost: 0,
  });
  const text = (deviceId: DeviceId, t: string, commandId?: string) =>
    answer(deviceId, MSG_TYPE.COMMAND.REPLY, {
      text: t,
      ...(commandId ? { commandId: commandId as never } : {}),
    });

  /** The ledger as the reply handler sees it, counting its round trips. */
  function countingLedger(beforeApply?: () => Promise<void>) {
    const calls = { loads: 0, applies: 0 };
    return {
      calls,
      ledger: {
        awaitingAnswers: (...args: Parameters<CommandLedger['awaitingAnswers']>) => {
          calls.loads++;
          return ledger.awaitingAnswers(...args);
        },
        transitionMany: async (...args: Parameters<CommandLedger['transitionMany']>) => {
          calls.applies++;
          if (calls.applies === 1) await beforeApply?.();
          return ledger.transitionMany(...args);
        },
      },
    };
  }
  async function replyCounts(registry: Registry) {
    const { values } = await registry.getSingleMetric('fleetwire_command_replies_total')!.get();
    return Object.fromEntries(values.map((v) => [v.labels.result, v.value]));
  }

  it('applies a batch of answers from several devices, several per device, in arrival order', async () => {
    const [r1, r2, r3, r4] = [device(1), device(2), device(3), device(4)];
    const c1 = await sent(r1, 'custom one');
    const c2 = await sent(r1, 'custom two');
    const c3 = await sent(r1, 'custom three');
    const w1 = await sent(r2, null);
    const getver = await sent(r3, 'getver');
    const getinfo = await sent(r3, 'getinfo');
    // Its `sent` is not committed yet when the answer naming it arrives.
    const queued = await create(r4, 'custom queued');
    const registry = new Registry();
    const { calls, ledger: counted } = countingLedger();
    const handler = new ReplyHandler({
      ledger: counted,
      metrics: commandMetrics(registry),
      log,
      validate: true,
      terminate: () => {},
    });

    await handler.apply([
      text(r1, 'OK x'),
      answer(r2, MSG_TYPE.COMMAND.ACK, { commandId: w1.id as never }),
      text(r3, 'INI:2026/1/1 RTC:2026/1/1'),
      text(r1, 'OK y'),
      answer(r2, MSG_TYPE.COMMAND.RESULT, { commandId: w1.id as never, output: 'rebooting' }),
      text(r3, 'Ver:03.27.07_04'),
      text(r4, 'OK queued', queued.id),
      text(r4, 'stray answer'),
      answer(r4, MSG_TYPE.COMMAND.RESULT, { output: 'no id' }),
    ]);

    expect(await get(c1)).toMatchObject({ state: 'completed', response: 'OK x' });
    expect(await get(c2)).toMatchObject({ state: 'completed', response: 'OK y' });
    expect((await get(c3)).state).toBe('sent');
    expect(await get(getinfo)).toMatchObject({ state: 'completed', response: 'INI:2026/1/1 RTC:2026/1/1' });
    expect(await get(getver)).toMatchObject({ state: 'completed', response: 'Ver:03.27.07_04' });
    expect(await get(queued)).toMatchObject({ state: 'completed', response: 'OK queued' });
    expect(await get(w1)).toMatchObject({ state: 'completed', response: 'rebooting' });
    expect((await ledger.transitions(TENANT, w1.id)).map((t) => t.state)).toEqual([
      'queued',
      'sent',
      'delivered',
      'completed',
    ]);
    expect(await replyCounts(registry)).toEqual({ matched: 7, unmatched: 2 });
    // Two rounds (the ack and the result of one command cannot share a statement), not nine.
    expect(calls).toEqual({ loads: 2, applies: 2 });
  });

  it('matches an answer again when another instance finished its command between load and apply', async () => {
    const r5 = device(5);
    const first = await sent(r5, 'custom first');
    const second = await sent(r5, 'custom second');
    const registry = new Registry();
    const { calls, ledger: counted } = countingLedger(async () => {
      expect(await ledger.complete(TENANT, first.id, 'OK from the rival')).toBeDefined();
    });
    const handler = new ReplyHandler({
      ledger: counted,
      metrics: commandMetrics(registry),
      log,
      validate: true,
      terminate: () => {},
    });

    await handler.apply([text(r5, 'OK mine')]);

    expect(await get(first)).toMatchObject({ state: 'completed', response: 'OK from the rival' });
    expect(await get(second)).toMatchObject({ state: 'completed', response: 'OK mine' });
    expect((await ledger.transitions(TENANT, first.id)).filter((t) => t.state === 'completed')).toHaveLength(
      1,
    );
    expect(await replyCounts(registry)).toEqual({ matched: 1 });
    expect(calls).toEqual({ loads: 2, applies: 2 });
  });

  /** A fake edge: answers each request on `down.<device>` as `respond` says (undefined: never). */
  function edge(
    deviceId: DeviceId,
    respond: (req: { commandId: string; text: string }) => Promise<Uint8Array | undefined>,
  ) {
    const requests: string[] = [];
    edges.subscribe(subjects().down(TENANT, deviceId), {
      callback: (_err, msg) => {
        const body = decodePayload(decodeProtoMsg(msg.data).body, CommandRequestBody);
        const text = String(body.args?.text ?? body.name);
        requests.push(text);
        void respond({ commandId: body.commandId, text }).then((reply) => {
          if (reply) msg.respond(reply);
        });
      },
    });
    return requests;
  }
  const ack = async ({ commandId }: { commandId: string }) =>
    encodeProtoMsg({
      hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.ACK },
      body: encodePayload(CommandAckBody, { commandId: commandId as never }),
    });
  const refuse = async () =>
    encodeProtoMsg({
      hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ERROR },
      body: encodePayload(ControlErrorBody, { err: 'unsupported command', close: false, code: 422 }),
    });

  it('dispatches a batch in one transaction, asking every edge at once: fast, slow, offline, refusing, held', async () => {
    const [fast, slow1, slow2, slow3, offline, picky, held, heldNew] = [6, 7, 8, 9, 10, 11, 12, 13].map(
      device,
    );
    const fastReqs = edge(fast!, ack);
    const slowReqs = [slow1, slow2, slow3].map((d) =>
      edge(d!, (req) => new Promise((r) => setTimeout(() => r(ack(req)), 2_500))),
    );
    const pickyReqs = edge(picky!, (req) => (req.text === 'custom bad' ? refuse() : ack(req)));
    await edges.flush();
    const cFast = await create(fast!, 'custom fast');
    const cSlow = await Promise.all([slow1, slow2, slow3].map((d) => create(d!, 'custom slow')));
    const cOffline = await create(offline!, 'custom offline');
    const cBad = await create(picky!, 'custom bad');
    const cGood = await create(picky!, 'custom good');
    const cHeld = await create(held!, 'custom held');
    const cHeldNew = await create(heldNew!, 'custom held new');
    const dispatcher = new Dispatcher({
      ledger,
      downlink: new Downlink(nats.nc, subjects(), 1_000),
      metrics: commandMetrics(new Registry()),
      log,
      busyRetryMs: 200,
      attemptTimers: new AttemptTimers({ settle: () => {} }),
      terminate: () => {},
    });

    // Another instance holds the heads of two devices for the whole batch.
    let release!: () => void;
    let holding!: () => void;
    const isHolding = new Promise<void>((r) => {
      holding = r;
    });
    const holder = sql.begin(async (tx) => {
      await tx`select id from commands where id in (${cHeld.id}, ${cHeldNew.id}) for no key update`;
      holding();
      await new Promise<void>((r) => {
        release = r;
      });
    });
    await isHolding;
    const started = performance.now();
    const outcomes = await dispatcher.dispatchDevices(
      [fast, slow1, slow2, slow3, offline, picky, held, heldNew].map((deviceId) => ({
        tenant: TENANT,
        deviceId: deviceId!,
        hasNew: deviceId === heldNew,
      })),
    );
    const elapsed = performance.now() - started;
    release();
    await holder;

    // A sent command's item comes back when the attempt times out, or is let go when it ends.
    const revisit = (commandId: string) => ({
      kind: 'nak',
      delayMs: expect.toSatisfy((ms: number) => ms > 29_000),
      waitsFor: { commandId, releaseBy: 'ack' },
    });
    const retry = { kind: 'nak', delayMs: 200 };
    expect(outcomes).toEqual([
      revisit(cFast.id),
      retry,
      retry,
      retry,
      { kind: 'ack' },
      revisit(cGood.id),
      { kind: 'ack' },
      retry,
    ]);
    // Three edges timing out at once cost one timeout, not three.
    expect(elapsed).toBeLessThan(2_500);
    expect(await get(cFast)).toMatchObject({ state: 'sent', attempts: 1 });
    for (const c of cSlow) expect(await get(c)).toMatchObject({ state: 'queued', attempts: 0 });
    expect((await get(cOffline)).state).toBe('queued');
    expect(await get(cBad)).toMatchObject({ state: 'failed', error: 'unsupported command' });
    expect(await get(cGood)).toMatchObject({ state: 'sent', attempts: 1 });
    for (const c of [cHeld, cHeldNew]) expect((await get(c)).state).toBe('queued');
    expect(fastReqs).toEqual(['custom fast']);
    expect(pickyReqs).toEqual(['custom bad', 'custom good']);
    await eventually(() => slowReqs.every((r) => r.length === 1));
  });
});

describe('two command instances on a batch-heavy load (edge-tcp, real trackers)', () => {
  let env: TestEnv;
  let nc: NatsConnection;
  let edgeService: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  const instances: Array<RunningService<typeof command.config, CommandInstance>> = [];
  const trackers: TrackerClient[] = [];
  const events: CommandStateChange[] = [];
  const DEVICES = Array.from({ length: 10 }, (_, i) => device(40 + i));
  const PER_DEVICE = 6;

  beforeAll(async () => {
    env = await createTestEnv('command_batch_load');
    const vars = { FW_COMMAND_BUSY_RETRY: '200ms', FW_COMMAND_BATCH_LINGER: '5ms' };
    for (const id of ['a', 'b'])
      instances.push(await startService(command, env.serviceEnv({ ...vars, FW_INSTANCE_ID: `batch-${id}` })));
    edgeService = await startService(
      edgeTcp,
      env.serviceEnv({ FW_TCP_PORT: '0', FW_TCP_COMMAND_TIMEOUT: '2s' }),
    );
    const sql = connectPostgres(env.databaseUrl, { appName: 'command-batch-load-test', max: 2 });
    for (const id of DEVICES)
      await sql`insert into devices (tenant_id, id, kind) values ('default', ${id}, 'tracker')`;
    await sql.end();
    nc = await connectTestNats(env);
    const sub = nc.subscribe(jetStreamTopology({ root: env.subjectRoot }).subjects.cmdAll());
    void (async () => {
      for await (const m of sub) events.push(decodeBusMessage(m.data, CommandStateChange).payload);
    })();
    await nc.flush();
    for (const imei of DEVICES) {
      const tracker = await TrackerClient.connect({ port: edgeService.instance.port, imei });
      tracker.autoReply = (text) => `OK ${text}`;
      trackers.push(tracker);
      expect(await tracker.login()).toBe(true);
    }
  });

  /** A counter of one instance's /metrics with the given outcome or result label. */
  async function counter(
    instance: RunningService<typeof command.config, CommandInstance>,
    name: string,
    label: string,
  ): Promise<number> {
    const { values } = (await instance.ctx.metrics.getSingleMetric(name)?.get()) ?? { values: [] };
    return values
      .filter((v) => v.labels.outcome === label || v.labels.result === label)
      .reduce((sum, v) => sum + v.value, 0);
  }

  afterAll(async () => {
    for (const t of trackers) await t.close().catch(() => {});
    await edgeService?.stop();
    for (const i of instances) await i.stop();
    await nc?.close();
  });

  it('completes every command exactly once, each tracker getting its commands once and in order', async () => {
    const ledger = instances[0]!.instance.ledger;
    // Every create at once: the API's batches, and bursts of dispatch items and answers for both instances.
    const requests = Array.from({ length: PER_DEVICE }, (_, round) =>
      DEVICES.map((deviceId) => ({ deviceId, text: `custom job ${round}` })),
    ).flat();
    const created = await Promise.all(
      requests.map(({ deviceId, text }) =>
        ledger.create({ tenant: TENANT, deviceId, name: 'codec12', args: { text }, command: text }),
      ),
    );
    const ids = created.map((c) => c.command.id);
    const completedOf = (id: string) => events.filter((e) => e.commandId === id && e.state === 'completed');
    await eventually(() => ids.every((id) => completedOf(id).length > 0), 45_000, 'every command completed');
    // A second completion would be published right after the first; give it a moment to show.
    await new Promise((r) => setTimeout(r, 500));
    for (const [i, id] of ids.entries()) {
      expect(completedOf(id), id).toHaveLength(1);
      expect(completedOf(id)[0]).toMatchObject({ response: `OK ${requests[i]!.text}`, attempt: 1 });
      expect((await ledger.transitions(TENANT, id)).map((t) => t.state)).toEqual([
        'queued',
        'sent',
        'completed',
      ]);
    }
    for (const [i, imei] of DEVICES.entries()) {
      expect(
        trackers[i]!.commands.map((c) => c.text),
        imei,
      ).toEqual(Array.from({ length: PER_DEVICE }, (_, round) => `custom job ${round}`));
    }
    // Both instances took part: sends and matched answers add up to one per command.
    const sends = await Promise.all(
      instances.map((i) => counter(i, 'fleetwire_command_dispatches_total', 'ack')),
    );
    const matched = await Promise.all(
      instances.map((i) => counter(i, 'fleetwire_command_replies_total', 'matched')),
    );
    expect(sends.reduce((a, b) => a + b)).toBe(ids.length);
    expect(matched.reduce((a, b) => a + b)).toBe(ids.length);
    expect(Math.min(...sends, ...matched)).toBeGreaterThan(0);
  });
});
