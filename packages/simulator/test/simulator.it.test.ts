import { createHash } from 'node:crypto';
import net from 'node:net';
import { edgeTcp } from '@fleetwire/edge-tcp/main';
import {
  type CommandId,
  CommandReply,
  CommandRequestBody,
  type DeviceId,
  decodeBusMessage,
  decodeProtoMsg,
  encodePayload,
  encodeProtoMsg,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  type TenantId,
} from '@fleetwire/protocol';
import { type RunningService, type Sql, startService } from '@fleetwire/runtime';
import { telemetry } from '@fleetwire/telemetry/main';
import { TeltonikaFramer } from '@fleetwire/teltonika';
import { connectTestNats, createTestEnv, eventually, type TestEnv, testSql } from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, type FleetInput, fleetImeis, registerTrackers, runFleet } from '../src/index.ts';
import { DEFAULT_CENTRE, distanceM } from '../src/tracker/vehicle.ts';

const TENANT = 'default' as TenantId;
const INTERVAL_MS = 300;

/** A fast fleet for tests: short interval and timeouts, quick backoff. */
function fleetOptions(port: number, seed: string, env: TestEnv, extra: FleetInput = {}): FleetInput {
  return {
    trackers: 4,
    port,
    seed,
    rampMs: 200,
    register: { databaseUrl: env.databaseUrl, tenant: 'default' },
    ...extra,
    tracker: {
      intervalMs: INTERVAL_MS,
      ackTimeoutMs: 600,
      loginTimeoutMs: 3_000,
      rebootDelayMs: 200,
      backoff: { baseMs: 100, capMs: 1_000 },
      ...extra.tracker,
    },
  };
}

/**
 * A real TCP relay between the fleet and edge-tcp that can swallow the edge's replies for a while
 * (a network that loses acknowledgements) and remembers every data frame the trackers sent.
 */
class LossyRelay {
  readonly server: net.Server;
  swallowReplies = false;
  readonly framesSeen = new Map<string, number>();

  constructor(targetPort: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
      const framer = new TeltonikaFramer();
      client.on('data', (chunk) => {
        for (const frame of framer.push(chunk)) {
          if (frame.kind !== 'data') continue;
          const key = createHash('sha1').update(frame.bytes).digest('hex');
          this.framesSeen.set(key, (this.framesSeen.get(key) ?? 0) + 1);
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!this.swallowReplies) client.write(chunk);
      });
      const closeBoth = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', closeBoth).on('error', closeBoth);
      upstream.on('close', closeBoth).on('error', closeBoth);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port)),
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('the simulated fleet against edge-tcp and telemetry (real NATS and PostgreSQL)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let edge: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  let writer: RunningService<typeof telemetry.config>;
  let port: number;
  const fleets: Fleet[] = [];
  const edgeEnv = () => env.serviceEnv({ FW_TCP_PORT: String(port ?? 0), FW_TCP_DRAIN_SPREAD: '0' });
  const rowsPerDevice = async (ids: readonly string[], since = new Date(0)) => {
    const rows = await sql<{ device_id: string; n: number }[]>`
      select device_id, count(*)::int as n from telemetry
      where device_id in ${sql(ids)} and device_time > ${since} group by device_id`;
    return new Map(rows.map((r) => [r.device_id, r.n]));
  };
  const everyDeviceHas = async (ids: readonly string[], n: number, since?: Date) => {
    const counts = await rowsPerDevice(ids, since);
    return ids.every((id) => (counts.get(id) ?? 0) >= n) ? counts : undefined;
  };
  const start = async (input: FleetInput) => {
    const fleet = await runFleet(input);
    fleets.push(fleet);
    return fleet;
  };

  beforeAll(async () => {
    env = await createTestEnv('simulator');
    edge = await startService(edgeTcp, edgeEnv());
    port = edge.instance.port;
    writer = await startService(telemetry, env.serviceEnv({ FW_TELEMETRY_NOTIFY_INTERVAL: '0' }));
    sql = testSql(env);
    nc = await connectTestNats(env);
  });

  afterAll(async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    await edge?.stop();
    await writer?.stop();
    await nc?.close();
    await sql?.end();
  });

  it('registers the fleet, logs every tracker in and stores a track for each', async () => {
    const fleet = await start(fleetOptions(port, 'it-basic', env));
    const ids = fleet.devices.map((d) => d.id);
    const [registered] =
      await sql`select count(*)::int as n from devices where id in ${sql(ids)} and kind = 'tracker'`;
    expect(registered!.n).toBe(4);
    await eventually(() => (fleet.stats.connected === 4 ? true : undefined));
    await eventually(() => everyDeviceHas(ids, 3));
    const rows = await sql`select * from telemetry where device_id = ${ids[0]!} order by device_time`;
    for (const row of rows) {
      expect(distanceM(DEFAULT_CENTRE, { lat: row.latitude, lon: row.longitude })).toBeLessThanOrEqual(
        10_000,
      );
      expect(row.io).toHaveProperty('239');
      expect(row.io).toHaveProperty('16');
      expect(row.attributes).toHaveProperty('externalVoltage');
    }
    expect(fleet.stats.acks).toBeGreaterThan(0);
    expect(fleet.stats.loginsRefused).toBe(0);
    await fleet.stop();
    expect(fleet.stats.connected).toBe(0);
  });

  it('keeps retrying a refused login with backoff and gets in once the IMEI is registered', async () => {
    const { register: _, ...unregistered } = fleetOptions(port, 'it-refused', env, { trackers: 2 });
    const fleet = await start(unregistered);
    await eventually(() => (fleet.stats.loginsRefused >= 4 ? true : undefined));
    expect(fleet.stats.connected).toBe(0);
    await registerTrackers(env.databaseUrl, 'default', fleetImeis('it-refused', 2));
    await eventually(() => (fleet.stats.connected === 2 ? true : undefined));
    await eventually(() => everyDeviceHas(fleetImeis('it-refused', 2), 1));
    await fleet.stop();
  });

  it('answers commands from the down subject on up.<device>.reply; cpureset reboots the tracker', async () => {
    const fleet = await start(fleetOptions(port, 'it-commands', env, { trackers: 2 }));
    await eventually(() => (fleet.stats.connected === 2 ? true : undefined));
    const device = fleet.devices[1]!.id as DeviceId;
    const s = jetStreamTopology({ root: env.subjectRoot }).subjects;
    const received: CommandReply[] = [];
    const replies = nc.subscribe(s.up(TENANT, device, 'reply'), {
      callback: (_err, m) => {
        received.push(decodeBusMessage(m.data, CommandReply).payload);
      },
    });
    const nextReply = () => eventually(() => received.shift(), 10_000);
    const command = async (commandId: string, text: string) => {
      const answer = await nc.request(
        s.down(TENANT, device),
        encodeProtoMsg({
          hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST },
          body: encodePayload(CommandRequestBody, {
            commandId: commandId as CommandId,
            name: 'codec12',
            args: { text },
          }),
        }),
        { timeout: 5_000 },
      );
      expect(decodeProtoMsg(answer.data).hdr.typ).toBe(MSG_TYPE.COMMAND.ACK);
      return nextReply();
    };

    expect(await command('c-1', 'getinfo')).toMatchObject({ deviceId: device, commandId: 'c-1', ok: true });
    expect((await command('c-2', 'getver')).text).toContain(`IMEI:${device}`);
    expect((await command('c-3', 'setdigout 1')).text).toBe('DOUT1:1');
    expect((await command('c-4', 'setdigout 1')).text).toBe('DOUT1:Already set to 1');
    expect((await command('c-5', 'getgps')).text).toMatch(/^GPS:1 Sat:\d+ Lat:54\.\d+ Long:25\.\d+ /);
    expect((await command('c-6', 'what')).text).toBe('Unknown command');
    // The output state shows in the telemetry too (IO 179).
    await eventually(async () => {
      const [row] =
        await sql`select io from telemetry where device_id = ${device} order by device_time desc limit 1`;
      return row?.io['179'] === 1 ? true : undefined;
    });

    const reconnectsBefore = fleet.stats.reconnects;
    expect((await command('c-7', 'cpureset')).text).toBe('Rebooting');
    await eventually(() => (fleet.stats.reconnects > reconnectsBefore ? true : undefined));
    await eventually(() => (fleet.stats.connected === 2 ? true : undefined));
    expect((await command('c-8', 'getinfo')).text).toMatch(/^INI:/);
    expect(fleet.stats.commands).toBe(8);
    replies.unsubscribe();
    await fleet.stop();
  });

  it('reconnects after edge-tcp restarts and keeps sending, losing no records', async () => {
    const fleet = await start(fleetOptions(port, 'it-restart', env));
    const ids = fleet.devices.map((d) => d.id);
    await eventually(() => everyDeviceHas(ids, 2));

    await edge.stop();
    await eventually(() => (fleet.stats.connected === 0 ? true : undefined));
    // Records keep being taken while the edge is away.
    await new Promise((r) => setTimeout(r, 1_000));
    const restartedAt = new Date();
    edge = await startService(edgeTcp, edgeEnv());
    expect(edge.instance.port).toBe(port);

    await eventually(() => (fleet.stats.connected === 4 && fleet.stats.reconnects >= 4 ? true : undefined));
    await eventually(() => everyDeviceHas(ids, 2, restartedAt));
    await fleet.stop();
    // Nothing taken during the outage was lost: device times have no gap near the outage's length.
    await expectNoGaps(ids);
  });

  it('resends a packet whose record count never comes, and delivers everything once replies flow again', async () => {
    const relay = new LossyRelay(port);
    const relayPort = await relay.listen();
    const fleet = await start(fleetOptions(relayPort, 'it-resend', env, { trackers: 3 }));
    const ids = fleet.devices.map((d) => d.id);
    await eventually(() => everyDeviceHas(ids, 2));

    relay.swallowReplies = true;
    await eventually(() => (fleet.stats.resends >= 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_500));
    const unacknowledged = fleet.trackers.reduce((n, t) => n + t.unacknowledged, 0);
    expect(unacknowledged).toBeGreaterThan(3);
    relay.swallowReplies = false;

    // Byte-identical packets went out more than once.
    expect([...relay.framesSeen.values()].some((n) => n > 1)).toBe(true);
    await eventually(() => (fleet.trackers.every((t) => t.unacknowledged <= 1) ? true : undefined));
    const resumedAt = new Date();
    await eventually(() => everyDeviceHas(ids, 2, resumedAt));
    await fleet.stop();
    await relay.close();
    await expectNoGaps(ids);
  });

  /** Consecutive records of each device are at most a couple of intervals apart (timers run late on busy machines). */
  async function expectNoGaps(ids: readonly string[]): Promise<void> {
    const gaps = await sql<{ device_id: string; gap: number }[]>`
      select device_id, max(gap)::float8 as gap from (
        select device_id,
               extract(epoch from device_time - lag(device_time) over (partition by device_id order by device_time)) * 1000 as gap
        from telemetry where device_id in ${sql(ids)}) g
      group by device_id`;
    expect(gaps).toHaveLength(ids.length);
    for (const g of gaps) expect(g.gap).toBeLessThan(INTERVAL_MS + 1_200);
  }
});
