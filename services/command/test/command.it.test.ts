import { edgeTcp } from '@fleetwire/edge-tcp/main';
import { CommandLedger, type CreateCommandInput } from '@fleetwire/ledger';
import {
  CommandStateChange,
  type DeviceId,
  decodeBusMessage,
  jetStreamTopology,
  type TenantId,
} from '@fleetwire/protocol';
import {
  createLogger,
  JetStreamPublisher,
  type RunningService,
  type Sql,
  startService,
} from '@fleetwire/runtime';
import { encodeCodec12 } from '@fleetwire/teltonika';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  type TestEnv,
  TrackerClient,
  testSql,
} from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CommandInstance, command } from '../src/main.ts';

const TENANT = 'default' as TenantId;
const DEVICES = Array.from({ length: 10 }, (_, i) => `35630704244100${i}` as DeviceId);

describe('command dispatcher with edge-tcp and real trackers (real NATS and PostgreSQL)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let edge: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  let service: RunningService<typeof command.config, CommandInstance>;
  let ledger: CommandLedger;
  const events: CommandStateChange[] = [];
  const clients: TrackerClient[] = [];

  const serviceEnv = () =>
    env.serviceEnv({
      FW_COMMAND_SWEEP_INTERVAL: '200ms',
      FW_COMMAND_BUSY_RETRY: '200ms',
      FW_COMMAND_OUTBOX_INTERVAL: '200ms',
      FW_COMMAND_OUTBOX_GRACE: '1s',
    });
  const create = (deviceId: DeviceId, text: string, extra: Partial<CreateCommandInput> = {}) =>
    ledger.create({ tenant: TENANT, deviceId, name: 'codec12', args: { text }, command: text, ...extra });
  const stateOf = async (id: string) => (await ledger.get(TENANT, id))?.state;
  const until = (id: string, state: string, timeoutMs?: number) =>
    eventually(async () => ((await stateOf(id)) === state ? true : undefined), timeoutMs);
  const eventsOf = (id: string) => events.filter((e) => e.commandId === id).map((e) => e.state);
  /** Where a state comes in a command's life, for events of one moment and attempt. */
  const STAGE: Record<string, number> = { queued: 0, sent: 1, delivered: 2 };
  /**
   * A command's events in the order of its transitions, as the README tells consumers to read them
   * (`at`, then `attempt`): two writers publish independently, so an answer that overtook the commit
   * of `sent` may announce `completed` first.
   */
  const transitionsOf = (id: string) =>
    events
      .filter((e) => e.commandId === id)
      .sort(
        (a, b) =>
          a.at - b.at || (a.attempt ?? 0) - (b.attempt ?? 0) || (STAGE[a.state] ?? 3) - (STAGE[b.state] ?? 3),
      )
      .map((e) => e.state);
  /** Events arrive just after the commit that made them: wait for as many as expected, then compare. */
  async function expectEvents(id: string, expected: string[]) {
    await eventually(async () => (eventsOf(id).length >= expected.length ? true : undefined), 5_000).catch(
      () => {},
    );
    expect(transitionsOf(id)).toEqual(expected);
  }
  /** How often the dispatcher found a device offline. */
  async function offlineAttempts(): Promise<number> {
    const metric = service.ctx.metrics.getSingleMetric('fleetwire_command_dispatches_total');
    const { values } = (await metric?.get()) ?? { values: [] };
    return values.filter((v) => v.labels.outcome === 'offline').reduce((sum, v) => sum + v.value, 0);
  }
  async function tracker(imei: DeviceId, autoReply?: (text: string) => string | undefined) {
    const client = await TrackerClient.connect({ port: edge.instance.port, imei });
    client.autoReply = autoReply;
    clients.push(client);
    expect(await client.login()).toBe(true);
    return client;
  }

  beforeAll(async () => {
    env = await createTestEnv('command');
    service = await startService(command, serviceEnv());
    ledger = service.instance.ledger;
    sql = testSql(env);
    for (const id of DEVICES)
      await sql`insert into devices (tenant_id, id, kind) values ('default', ${id}, 'tracker')`;
    edge = await startService(edgeTcp, env.serviceEnv({ FW_TCP_PORT: '0', FW_TCP_COMMAND_TIMEOUT: '1s' }));
    nc = await connectTestNats(env);
    const sub = nc.subscribe(jetStreamTopology({ root: env.subjectRoot }).subjects.cmdAll());
    void (async () => {
      for await (const m of sub) events.push(decodeBusMessage(m.data, CommandStateChange).payload);
    })();
    await nc.flush();
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await edge?.stop();
    await service?.stop();
    await nc?.close();
    await sql?.end();
  });

  it('sends a command to a connected tracker as Codec 12 and completes it with the answer and the metadata', async () => {
    const client = await tracker(DEVICES[0]!);
    const metadata = { job_id: '123', action: 'START', nested: { list: [1, 'two', null] } };
    const { command: cmd } = await create(DEVICES[0]!, 'getver', { metadata });
    expect((await client.nextCommand()).text).toBe('getver');
    client.write(encodeCodec12('Ver:03.27.07_04 GPS:AXN_5.10', { type: 'response' }));
    await until(cmd.id, 'completed');
    expect(await ledger.get(TENANT, cmd.id)).toMatchObject({
      attempts: 1,
      response: 'Ver:03.27.07_04 GPS:AXN_5.10',
    });
    const completed = await eventually(async () =>
      events.find((e) => e.commandId === cmd.id && e.state === 'completed'),
    );
    expect(completed).toMatchObject({ command: 'getver', name: 'codec12', attempt: 1, metadata });
    await expectEvents(cmd.id, ['queued', 'sent', 'completed']);
  });

  it('keeps commands for an offline tracker queued and sends them in creation order once it logs in', async () => {
    const device = DEVICES[1]!;
    const first = await create(device, 'custom one');
    const second = await create(device, 'custom two');
    const third = await create(device, 'custom three');
    await new Promise((r) => setTimeout(r, 500));
    for (const c of [first, second, third]) expect(await stateOf(c.command.id)).toBe('queued');
    const client = await tracker(device, (text) => `OK ${text}`);
    for (const c of [first, second, third]) await until(c.command.id, 'completed');
    expect(client.commands.map((c) => c.text)).toEqual(['custom one', 'custom two', 'custom three']);
    expect((await ledger.get(TENANT, second.command.id))?.response).toBe('OK custom two');
  });

  it('expires a command nobody took when its time to live runs out', async () => {
    const { command: cmd } = await create(DEVICES[2]!, 'getinfo', { ttlMs: 300 });
    await until(cmd.id, 'expired', 5_000);
    await expectEvents(cmd.id, ['queued', 'expired']);
  });

  it('retries an unanswered command through JetStream up to maxAttempts, then fails it', async () => {
    const client = await tracker(DEVICES[3]!);
    const { command: cmd } = await create(DEVICES[3]!, 'custom silent', {
      maxAttempts: 2,
      attemptTimeoutMs: 1_200,
    });
    expect((await client.nextCommand()).text).toBe('custom silent');
    expect((await client.nextCommand(5_000)).text).toBe('custom silent');
    await until(cmd.id, 'failed');
    expect(await ledger.get(TENANT, cmd.id)).toMatchObject({
      attempts: 2,
      error: 'no response after 2 attempts',
    });
    await expectEvents(cmd.id, ['queued', 'sent', 'sent', 'failed']);
    expect(client.commands).toHaveLength(0);
  });

  it('honours idempotency keys and supersedes an older identical command', async () => {
    const device = DEVICES[4]!;
    const a = await create(device, 'setdigout 1?', { idempotencyKey: 'k-1', supersede: true });
    const again = await create(device, 'setdigout 1?', { idempotencyKey: 'k-1', supersede: true });
    expect(again).toEqual({ command: a.command, created: false });
    await expect(create(device, 'setdigout 0?', { idempotencyKey: 'k-1' })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
    });
    const offlineBefore = await offlineAttempts();
    const b = await create(device, 'setdigout 1?', { supersede: true });
    expect(await stateOf(a.command.id)).toBe('superseded');
    // The tracker comes online after the dispatcher found it offline (not during its login).
    await eventually(async () => (await offlineAttempts()) > offlineBefore, 5_000, 'an offline attempt');
    const client = await tracker(device, () => 'DOUT1:1 DOUT2:0');
    await until(b.command.id, 'completed');
    expect(client.commands.map((c) => c.text)).toEqual(['setdigout 1?']);
    await expectEvents(a.command.id, ['queued', 'superseded']);
  });

  it('does not complete a command with an answer that does not fit it (VALIDATE_COMMAND_RESPONSE)', async () => {
    const client = await tracker(DEVICES[5]!, () => 'something unrelated');
    const { command: cmd } = await create(DEVICES[5]!, 'getver', { maxAttempts: 1, attemptTimeoutMs: 1_000 });
    await client.nextCommand();
    await until(cmd.id, 'failed');
    await expectEvents(cmd.id, ['queued', 'sent', 'failed']);
    expect((await ledger.get(TENANT, cmd.id))?.response).toBeNull();
  });

  it('never lets two dispatcher instances send, retry, complete or announce the same command twice', async () => {
    const rival = await startService(command, serviceEnv());
    try {
      const answering = await tracker(DEVICES[6]!, (text) => `OK ${text}`);
      const silent = await tracker(DEVICES[7]!);
      const answered = [];
      for (let i = 0; i < 6; i++) {
        const ledgerOf = i % 2 === 0 ? ledger : rival.instance.ledger;
        answered.push(
          (
            await ledgerOf.create({
              tenant: TENANT,
              deviceId: DEVICES[6]!,
              name: 'codec12',
              args: { text: `job ${i}` },
              command: `job ${i}`,
            })
          ).command,
        );
      }
      const unanswered = (
        await create(DEVICES[7]!, 'custom never', { maxAttempts: 2, attemptTimeoutMs: 1_200 })
      ).command;
      for (const c of answered) await until(c.id, 'completed');
      await until(unanswered.id, 'failed');
      await new Promise((r) => setTimeout(r, 500));
      for (const c of answered) await expectEvents(c.id, ['queued', 'sent', 'completed']);
      expect(answering.commands.map((c) => c.text)).toEqual(answered.map((c) => c.args.text));
      await expectEvents(unanswered.id, ['queued', 'sent', 'sent', 'failed']);
      expect(silent.commands.map((c) => c.text)).toEqual(['custom never', 'custom never']);
    } finally {
      await rival.stop();
    }
  });

  it('delivers a command whose creator died between commit and publish (outbox relay)', async () => {
    const device = DEVICES[8]!;
    const client = await tracker(device, (text) => `OK ${text}`);
    // An API process that commits and dies before publishing: its publisher refuses everything.
    const deadPublisher = new JetStreamPublisher(nc);
    await deadPublisher.close();
    const crashed = new CommandLedger({
      sql,
      publisher: deadPublisher,
      subjects: jetStreamTopology({ root: env.subjectRoot }).subjects,
      log: createLogger('crashed-api', 't', 'silent'),
    });
    const { command: cmd } = await crashed.create({
      tenant: TENANT,
      deviceId: device,
      name: 'codec12',
      args: { text: 'custom relayed' },
      command: 'custom relayed',
    });
    expect(eventsOf(cmd.id)).toEqual([]);
    // No dispatch item was published either: only the relay can get this command moving.
    await until(cmd.id, 'completed', 20_000);
    expect(client.commands.map((c) => c.text)).toEqual(['custom relayed']);
    await expectEvents(cmd.id, ['queued', 'sent', 'completed']);
    // Marks are written in batches just after the publishes, so give them a moment.
    await eventually(
      async () => {
        const [pending] = await sql<{ n: number }[]>`
        select count(*)::int as n from command_transitions t
        where command_id = ${cmd.id} and exists (select 1 from command_outbox o where t.seq = any(o.seqs))`;
        return pending?.n === 0;
      },
      10_000,
      'every transition marked published',
    );
  });
});
