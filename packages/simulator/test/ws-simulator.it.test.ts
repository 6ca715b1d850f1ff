import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { edgeWs } from '@fleetwire/edge-ws/main';
import {
  type CommandId,
  CommandReply,
  CommandRequestBody,
  DEFAULT_TENANT,
  type DeviceId,
  decodeBusMessage,
  decodeProtoMsg,
  encodePayload,
  encodeProtoMsg,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  PresenceEvent,
  TelemetryMessage,
} from '@fleetwire/protocol';
import {
  createLogger,
  hashSecret,
  newSecret,
  type RunningService,
  SECRET_KIND,
  type Sql,
  startService,
} from '@fleetwire/runtime';
import { connectTestNats, createTestEnv, eventually, type TestEnv, testSql } from '@fleetwire/testkit';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CredentialStore,
  DEVICE_STATE,
  type Fleet,
  type FleetInput,
  FleetStats,
  fleetIdentity,
  runFleet,
  SimulatedWsDevice,
  type WsDeviceSettings,
  wsDeviceId,
} from '../src/index.ts';

const TENANT = DEFAULT_TENANT;
const HEARTBEAT_MS = 400;

/** Fast settings for tests: short intervals and timeouts, quick backoff. */
const FAST: Omit<WsDeviceSettings, 'url'> = {
  telemetryIntervalMs: 250,
  reportState: true,
  heartbeatMs: HEARTBEAT_MS,
  ackTimeoutMs: 2_000,
  connectTimeoutMs: 5_000,
  backoff: { baseMs: 100, capMs: 800 },
  rebootDelayMs: 200,
  maxPendingMessages: 50,
};

describe('simulated WebSocket gateways against edge-ws (real NATS and PostgreSQL)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let edge: RunningService<typeof edgeWs.config, { port: number; stop(): Promise<void> }>;
  let url: string;
  let stateDir: string;
  const fleets: Fleet[] = [];
  const devices: SimulatedWsDevice[] = [];
  const s = () => jetStreamTopology({ root: env.subjectRoot }).subjects;

  const newProvisioningKey = async (id: string) => {
    const key = newSecret(SECRET_KIND.PROVISIONING_KEY);
    await sql`insert into provisioning_keys (tenant_id, id, name, key_hash)
              values ('default', ${id}, 'test fleet', ${hashSecret(key)})`;
    return key;
  };
  const start = async (input: FleetInput) => {
    const fleet = await runFleet({
      trackers: 0,
      wsUrl: url,
      stateDir,
      rampMs: 50,
      ...input,
      ws: { ...FAST, ...input.ws },
    });
    fleets.push(fleet);
    return fleet;
  };
  const sessionsOf = async (id: string) => {
    const [row] = await sql<
      { n: number }[]
    >`select count(*)::int as n from device_sessions where device_id = ${id}`;
    return row!.n;
  };
  /** Collects decoded bus messages from a core subscription. */
  const collect = <T>(subject: string, decode: (data: Uint8Array) => T) => {
    const got: T[] = [];
    const sub: Subscription = nc.subscribe(subject, {
      callback: (_e, m) => {
        got.push(decode(m.data));
      },
    });
    return { got, stop: () => sub.unsubscribe() };
  };

  beforeAll(async () => {
    env = await createTestEnv('simws');
    edge = await startService(
      edgeWs,
      env.serviceEnv({
        FW_WS_PORT: '0',
        FW_WS_HOST: '127.0.0.1',
        FW_WS_HEARTBEAT: `${HEARTBEAT_MS}ms`,
        FW_WS_DRAIN_SPREAD: '0',
      }),
    );
    url = `http://127.0.0.1:${edge.instance.port}`;
    sql = testSql(env);
    nc = await connectTestNats(env);
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-sim-ws-'));
  });

  afterAll(async () => {
    await Promise.all([...fleets.map((f) => f.stop()), ...devices.map((d) => d.stop())]);
    await edge?.stop();
    await nc?.close();
    await sql?.end();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('provisions itself with the fleet key, sends state and telemetry, and reuses its credential later', async () => {
    const key = await newProvisioningKey('pvk_basic');
    const telemetry = collect(
      s().upFor(TENANT, 'telemetry'),
      (d) => decodeBusMessage(d, TelemetryMessage).payload,
    );
    const fleet = await start({ seed: 'it-basic', wsDevices: 2, provisioningKey: key });
    const ids = fleet.wsDevices.map((d) => d.id);
    expect(ids).toEqual(['gw-it-basic-0000', 'gw-it-basic-0001']);
    await eventually(() => fleet.stats.wsConnected === 2, 15_000, 'both gateways online');

    const rows =
      await sql`select id, kind, credential_hash, identity from devices where id in ${sql(ids)} order by id`;
    expect(rows.map((r) => r.kind)).toEqual(['ws', 'ws']);
    expect(rows[1]!.identity).toMatchObject({
      mac: fleetIdentity('it-basic', 1).mac,
      serial: fleetIdentity('it-basic', 1).serial,
    });
    // The credentials the edge issued are in the state folder (written shortly after they arrive).
    await eventually(
      () => {
        const stored = CredentialStore.open(stateDir);
        return rows.every(
          (row) => stored.get(row.id) && hashSecret(stored.get(row.id)!) === row.credential_hash,
        );
      },
      5_000,
      'credentials stored',
    );

    await eventually(
      () => ids.every((id) => telemetry.got.some((t) => t.deviceId === id)),
      10_000,
      'telemetry from both',
    );
    const record = telemetry.got.find((t) => t.deviceId === ids[0])!;
    expect(record).toMatchObject({ tenant: TENANT, source: 'ws' });
    expect(Object.keys(record.records[0]!.attributes!)).toEqual(
      expect.arrayContaining(['cpuLoadPct', 'memoryUsedPct', 'temperatureC', 'distanceCm']),
    );
    await eventually(() => fleet.stats.messageAcks >= 4, 10_000, 'messages acknowledged as durable');
    telemetry.stop();
    await fleet.stop();
    expect(fleet.stats.wsConnected).toBe(0);

    // The same fleet again, without the key: the stored credentials open the sessions.
    const again = await start({ seed: 'it-basic', wsDevices: 2 });
    await eventually(() => again.stats.wsConnected === 2, 15_000, 'online with stored credentials');
    expect(again.stats.sessionsRefused).toBe(0);
    await again.stop();
  });

  it('keeps retrying a refused session with backoff and gets in once the fleet key is known', async () => {
    const key = newSecret(SECRET_KIND.PROVISIONING_KEY);
    const fleet = await start({ seed: 'it-refused', wsDevices: 1, provisioningKey: key });
    await eventually(() => fleet.stats.sessionsRefused >= 3, 15_000, 'sessions refused');
    expect(fleet.stats.wsConnected).toBe(0);
    await sql`insert into provisioning_keys (tenant_id, id, name, key_hash)
              values ('default', 'pvk_late', 'late key', ${hashSecret(key)})`;
    await eventually(() => fleet.stats.wsConnected === 1, 15_000, 'online once the key exists');
    await fleet.stop();
  });

  describe('the seed device commands, sent on down.<device> as the command dispatcher does', () => {
    let fleet: Fleet;
    let device: SimulatedWsDevice;
    let replies: ReturnType<typeof collect<{ typ: string; payload: CommandReply }>>;

    beforeAll(async () => {
      const key = await newProvisioningKey('pvk_commands');
      fleet = await start({
        seed: 'it-commands',
        wsDevices: 2,
        provisioningKey: key,
        ws: { telemetryIntervalMs: 0 },
      });
      device = fleet.wsDevices[0]!;
      await eventually(() => fleet.stats.wsConnected === 2, 15_000, 'gateways online');
      replies = collect(s().up(TENANT, device.id as DeviceId, 'reply'), (d) => {
        const m = decodeBusMessage(d, CommandReply);
        return { typ: m.typ!, payload: m.payload };
      });
    });

    afterAll(() => replies?.stop());

    /** Sends a command; the edge answers COMMAND/ack at once; resolves with the device's result. */
    const command = async (name: string, args?: Record<string, unknown>) => {
      const commandId = `c-${name}-${Date.now()}` as CommandId;
      const answer = await nc.request(
        s().down(TENANT, device.id as DeviceId),
        encodeProtoMsg({
          hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST },
          body: encodePayload(CommandRequestBody, { commandId, name, ...(args ? { args } : {}) }),
        }),
        { timeout: 5_000 },
      );
      expect(decodeProtoMsg(answer.data).hdr.typ).toBe(MSG_TYPE.COMMAND.ACK);
      const result = await eventually(
        () => replies.got.find((r) => r.typ === MSG_TYPE.COMMAND.RESULT && r.payload.commandId === commandId),
        10_000,
        `result of ${name}`,
      );
      // The device acknowledged it before answering.
      expect(
        replies.got.some((r) => r.typ === MSG_TYPE.COMMAND.ACK && r.payload.commandId === commandId),
      ).toBe(true);
      return result.payload;
    };

    it('send_msg_log logs the message; get_d_parameters answers identity and epoch', async () => {
      expect(await command('send_msg_log', { msg: 'hello gateway' })).toMatchObject({
        ok: true,
        output: 'logged: hello gateway',
      });
      const params = JSON.parse((await command('get_d_parameters')).output!);
      expect(params).toEqual({ deviceId: device.id, ...device.identity, epoch: device.epoch });
      expect(device.epoch).toBeGreaterThan(0);
    });

    it('get_d_items writes payload and identity to the JSON log file; send_logs uploads it', async () => {
      expect(await command('get_d_items', { items: { pallet: 'A-17', count: 4 } })).toMatchObject({
        ok: true,
      });
      const entries = JSON.parse(fs.readFileSync(device.logFile.path, 'utf8')) as Array<
        Record<string, unknown>
      >;
      expect(entries).toContainEqual(
        expect.objectContaining({
          message: 'get_d_items',
          items: { items: { pallet: 'A-17', count: 4 } },
          identity: expect.objectContaining({ deviceId: device.id, mac: device.identity.mac }),
        }),
      );
      expect(entries).toContainEqual(expect.objectContaining({ message: 'hello gateway' }));

      const sent = await command('send_logs');
      expect(sent.ok).toBe(true);
      const [row] = await sql`select device_id, size_bytes from device_logs where id = ${sent.output!}`;
      expect(row).toMatchObject({ device_id: device.id });
      expect(Number(row!.size_bytes)).toBe(fs.statSync(device.logFile.path).size);
      // The temporary snapshot is gone.
      expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`fw-sim-${device.id}-`))).toEqual([]);
    });

    it('an unknown command fails with "Unhandled function"', async () => {
      expect(await command('self_destruct')).toMatchObject({
        ok: false,
        error: 'Unhandled function: self_destruct',
      });
    });

    it('reboot answers, then comes back with a new session and a new epoch', async () => {
      const presence = collect(
        s().presence(TENANT, device.id as DeviceId),
        (d) => decodeBusMessage(d, PresenceEvent).payload,
      );
      const epoch = device.epoch;
      const sessionsBefore = await sessionsOf(device.id);
      expect(await command('reboot')).toMatchObject({ ok: true, output: 'rebooting' });
      await eventually(
        () => device.connections === 2 && device.state === DEVICE_STATE.ONLINE,
        10_000,
        'back online',
      );
      expect(device.epoch).toBeGreaterThan(epoch);
      const sessionsAfter = await sessionsOf(device.id);
      expect(sessionsAfter).toBe(sessionsBefore + 1);
      await eventually(
        () => presence.got.some((p) => p.state === 'online' && p.epoch === device.epoch),
        10_000,
        'online presence with the new epoch',
      );
      presence.stop();
    });

    it('Power_Off answers, goes offline and stays offline', async () => {
      const presence = collect(
        s().presence(TENANT, device.id as DeviceId),
        (d) => decodeBusMessage(d, PresenceEvent).payload,
      );
      expect(await command('Power_Off')).toMatchObject({ ok: true });
      await eventually(() => presence.got.some((p) => p.state === 'offline'), 10_000, 'offline presence');
      expect(device.state).toBe(DEVICE_STATE.STOPPED);
      const sessions = await sessionsOf(device.id);
      await new Promise((r) => setTimeout(r, 1_500));
      const later = await sessionsOf(device.id);
      expect(later).toBe(sessions);
      expect(presence.got.at(-1)!.state).toBe('offline');
      // The other gateway of the fleet is unaffected.
      expect(fleet.wsDevices[1]!.state).toBe(DEVICE_STATE.ONLINE);
      presence.stop();
    });
  });

  it('changed_parameters turns on Poisson faults: unstable ticks warn, a failing draw reboots and clears the flag', async () => {
    const key = await newProvisioningKey('pvk_faults');
    // Knuth with uniforms of 0.5 gives k = 7 (stable); one draw of 0.001 gives k = 0 (failure).
    let failNextDraw = false;
    const random = () => {
      if (!failNextDraw) return 0.5;
      failNextDraw = false;
      return 0.001;
    };
    const stats = new FleetStats();
    const id = wsDeviceId('it-faults', 0);
    const device = new SimulatedWsDevice({
      id,
      identity: fleetIdentity('it-faults', 0),
      settings: { ...FAST, telemetryIntervalMs: 0, url, provisioningKey: key },
      credentials: CredentialStore.open(undefined),
      logDir: path.join(stateDir, 'ws-logs'),
      random,
      stats,
      log: createLogger('test', 'faults', 'silent'),
    });
    devices.push(device);
    device.start();
    await eventually(() => stats.wsConnected === 1, 15_000, 'online');
    const presence = collect(
      s().presence(TENANT, id as DeviceId),
      (d) => decodeBusMessage(d, PresenceEvent).payload,
    );
    await nc.request(
      s().down(TENANT, id as DeviceId),
      encodeProtoMsg({
        hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST },
        body: encodePayload(CommandRequestBody, {
          commandId: 'c-faults' as CommandId,
          name: 'changed_parameters',
        }),
      }),
      { timeout: 5_000 },
    );
    const messages = async () =>
      ((await device.logFile.read()) as Array<{ message: string }>).map((e) => e.message);
    await eventually(
      async () =>
        (await messages()).filter((m) => m === 'WARNING: System UNSTABLE manual reboot advised').length >= 2,
      10_000,
      'unstable warnings',
    );
    expect(device.connections).toBe(1);
    expect(device.faultsEnabled).toBe(true);
    const epoch = device.epoch;

    failNextDraw = true;
    await eventually(
      async () => (await messages()).includes('System failure → auto-reboot'),
      10_000,
      'failure',
    );
    await eventually(
      () => device.connections === 2 && stats.wsConnected === 1,
      10_000,
      'back after the auto-reboot',
    );
    expect(stats.faults).toBe(1);
    expect(device.faultsEnabled).toBe(false);
    expect(device.epoch).toBeGreaterThan(epoch);
    await eventually(
      () => presence.got.some((p) => p.state === 'online' && p.epoch === device.epoch),
      10_000,
      'presence',
    );
    presence.stop();
    await device.stop();
  });
});
