import { edgeTcp } from '@fleetwire/edge-tcp/main';
import { type CommandLedger, queuedCommandsConsumer } from '@fleetwire/ledger';
import { type DeviceId, jetStreamTopology, type TenantId } from '@fleetwire/protocol';
import { type RunningService, type Sql, startService } from '@fleetwire/runtime';
import { encodeCodec12 } from '@fleetwire/teltonika';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  type TestEnv,
  TrackerClient,
  testSql,
} from '@fleetwire/testkit';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandConsumers } from '../src/consumers.ts';
import { type CommandInstance, command } from '../src/main.ts';

const TENANT = 'default' as TenantId;
const DEVICES = ['356307042441100', '356307042441101'] as DeviceId[];

/**
 * A work item waiting for an attempt to time out holds a slot of its consumer's max_ack_pending.
 * These tests read the server's own count: an answered command must give its slots back at once,
 * not when its 30-second attempt timeout would have brought the item back.
 */
describe('work items waiting for an attempt (real NATS, PostgreSQL, edge-tcp)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let edge: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  let service: RunningService<typeof command.config, CommandInstance>;
  let ledger: CommandLedger;
  const clients: TrackerClient[] = [];

  /** Messages the dispatcher's two consumers have delivered and not yet had settled. */
  async function unsettled(): Promise<number> {
    const topology = jetStreamTopology({ root: env.subjectRoot });
    const specs = [queuedCommandsConsumer(topology), commandConsumers(topology).dispatch];
    const infos = await Promise.all(specs.map((s) => jsm.consumers.info(s.streamName, s.durableName)));
    return infos.reduce((sum, i) => sum + i.num_ack_pending, 0);
  }
  const create = (deviceId: DeviceId, text: string) =>
    ledger.create({
      tenant: TENANT,
      deviceId,
      name: 'codec12',
      args: { text },
      command: text,
      attemptTimeoutMs: 30_000,
    });
  const until = (id: string, state: string) =>
    eventually(async () => ((await ledger.get(TENANT, id))?.state === state ? true : undefined), 5_000);

  beforeAll(async () => {
    env = await createTestEnv('parked');
    service = await startService(command, env.serviceEnv({ FW_COMMAND_BUSY_RETRY: '200ms' }));
    ledger = service.instance.ledger;
    sql = testSql(env);
    for (const id of DEVICES)
      await sql`insert into devices (tenant_id, id, kind) values ('default', ${id}, 'tracker')`;
    edge = await startService(edgeTcp, env.serviceEnv({ FW_TCP_PORT: '0' }));
    nc = await connectTestNats(env);
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await edge?.stop();
    await service?.stop();
    await nc?.close();
    await sql?.end();
  });

  async function tracker(imei: DeviceId) {
    const client = await TrackerClient.connect({ port: edge.instance.port, imei });
    clients.push(client);
    expect(await client.login()).toBe(true);
    return client;
  }

  it('holds the item while the attempt runs and lets it go as soon as the command is answered', async () => {
    const client = await tracker(DEVICES[0]!);
    const { command: cmd } = await create(DEVICES[0]!, 'getver');
    expect((await client.nextCommand()).text).toBe('getver');
    // Sent and unanswered: its item waits for the attempt timeout.
    await eventually(async () => ((await unsettled()) === 1 ? true : undefined), 5_000);
    client.write(encodeCodec12('Ver:03.27.07_04', { type: 'response' }));
    await until(cmd.id, 'completed');
    await eventually(async () => ((await unsettled()) === 0 ? true : undefined), 5_000);
  });

  it('sends a command that waited behind another once that one is answered, and leaves nothing held', async () => {
    const client = await tracker(DEVICES[1]!);
    const { command: first } = await create(DEVICES[1]!, 'getver');
    expect((await client.nextCommand()).text).toBe('getver');
    const { command: second } = await create(DEVICES[1]!, 'getinfo');
    // The second command's item finds the first one's attempt running and waits for it too.
    await eventually(async () => ((await unsettled()) === 2 ? true : undefined), 5_000);
    client.write(encodeCodec12('Ver:03.27.07_04', { type: 'response' }));
    await until(first.id, 'completed');
    expect((await client.nextCommand()).text).toBe('getinfo');
    client.write(encodeCodec12('INI:2019/7/22 7:22 RTC:2019/7/22 7:53', { type: 'response' }));
    await until(second.id, 'completed');
    await eventually(async () => ((await unsettled()) === 0 ? true : undefined), 5_000);
  });
});
