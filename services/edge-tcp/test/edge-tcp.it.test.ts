import net from 'node:net';
import {
  type CommandId,
  CommandReply,
  CommandRequestBody,
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
  PresenceEvent,
  type TenantId,
} from '@fleetwire/protocol';
import { type RunningService, type Sql, startService } from '@fleetwire/runtime';
import { telemetry } from '@fleetwire/telemetry/main';
import { encodeAvlPacket, encodeCodec12, encodeLogin, hexToBytes } from '@fleetwire/teltonika';
import {
  CODEC8_FMB920_CAPTURE,
  CODEC8E_WIKI,
  CODEC12_GETINFO_RESPONSE,
  CODEC13_HELLO,
  CODEC16_WIKI,
} from '@fleetwire/teltonika/fixtures';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  type TestEnv,
  TrackerClient,
  testSql,
} from '@fleetwire/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeTcp } from '../src/main.ts';

const TENANT = 'default' as TenantId;
const FMB920 = '356307042441013';
const OTHER = '352093081452251';

function expectNoAck(client: TrackerClient, ms = 600): Promise<void> {
  return client.nextAck(ms).then(
    (n) => {
      throw new Error(`unexpected record-count reply ${n}`);
    },
    () => undefined,
  );
}

describe('edge-tcp with the telemetry pipeline (real NATS and PostgreSQL)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let edge: RunningService<typeof edgeTcp.config, { port: number; stop(): Promise<void> }>;
  let writer: RunningService<typeof telemetry.config>;
  let port: number;
  const topology = () => jetStreamTopology({ root: env.subjectRoot });
  const rows = (imei: string) =>
    sql`select * from telemetry where device_id = ${imei} order by device_time, event_io`;

  beforeAll(async () => {
    env = await createTestEnv('edge_tcp');
    edge = await startService(edgeTcp, env.serviceEnv({ FW_TCP_PORT: '0', FW_TCP_COMMAND_TIMEOUT: '2s' }));
    writer = await startService(telemetry, env.serviceEnv({ FW_TELEMETRY_NOTIFY_INTERVAL: '0' }));
    port = edge.instance.port;
    sql = testSql(env);
    nc = await connectTestNats(env);
    await sql`insert into devices (tenant_id, id, kind) values ('default', ${FMB920}, 'tracker'), ('default', ${OTHER}, 'tracker')`;
  });

  afterAll(async () => {
    await edge?.stop();
    await writer?.stop();
    await nc?.close();
    await sql?.end();
  });

  it('refuses an unknown IMEI with 00 and closes the connection', async () => {
    const client = await TrackerClient.connect({ port, imei: '123456789012345' });
    expect(await client.login()).toBe(false);
    await client.closed;
  });

  it('acknowledges a packet split into single bytes only once it is stored in JetStream, then writes rows', async () => {
    const client = await TrackerClient.connect({ port, imei: FMB920 });
    expect(await client.login()).toBe(true);
    const frame = hexToBytes(CODEC8_FMB920_CAPTURE);
    const ack = client.nextAck();
    for (const byte of frame) {
      client.write(Uint8Array.of(byte));
      await new Promise((r) => setImmediate(r));
    }
    expect(await ack).toBe(1);
    // The ack means it is in the stream already.
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(topology().streams.TELEMETRY.name, {
      last_by_subj: topology().subjects.up(TENANT, FMB920 as DeviceId, 'telemetry'),
    });
    expect(stored).not.toBeNull();

    const [row] = await eventually(async () => {
      const r = await rows(FMB920);
      return r.length > 0 ? r : undefined;
    });
    expect(row).toMatchObject({
      latitude: 40.45731,
      longitude: -3.669515,
      altitude: 725,
      satellites: 0,
      speed: 0,
      priority: 1,
      event_io: 239,
      source: 'teltonika',
      io: { '1': 0, '9': 43, '66': 12720, '67': 4042, '239': 1, '240': 1 },
    });
    expect(row!.attributes).toMatchObject({ ignition: true, movement: true, externalVoltage: 12.72 });
    expect((row!.device_time as Date).toISOString()).toBe('2024-06-28T15:12:00.000Z');
    await client.close();
  });

  it('answers coalesced Codec 8E and Codec 16 packets in order, skipping heartbeat bytes', async () => {
    const client = await TrackerClient.connect({ port, imei: OTHER });
    expect(await client.login()).toBe(true);
    const acks = [client.nextAck(), client.nextAck()];
    client.write(
      Buffer.concat([
        Uint8Array.of(0xff),
        hexToBytes(CODEC8E_WIKI),
        Uint8Array.of(0xff),
        hexToBytes(CODEC16_WIKI),
      ]),
    );
    expect(await Promise.all(acks)).toEqual([1, 2]);
    const stored = await eventually(async () => {
      const r = await rows(OTHER);
      return r.length === 3 ? r : undefined;
    });
    expect(stored.map((r) => (r.device_time as Date).getTime())).toEqual([
      1560166592000, 1562760414000, 1562760415000,
    ]);
    // 8-byte IO values travel as decimal strings so that none loses precision.
    expect(stored[0]!.io).toMatchObject({ '16': 22949000, '11': '893700218', '14': '500686954' });
    expect(stored[1]!.attributes).toMatchObject({ generationType: 5 });
    const [state] = await sql`select * from device_state where device_id = ${OTHER}`;
    expect((state!.device_time as Date).getTime()).toBe(1562760415000);
    await client.close();
  });

  it('does not acknowledge a packet with a wrong CRC and stores nothing from it, then carries on', async () => {
    const client = await TrackerClient.connect({ port, imei: FMB920 });
    expect(await client.login()).toBe(true);
    const good = encodeAvlPacket(0x08, [
      {
        timestamp: Date.UTC(2026, 0, 1),
        priority: 0,
        longitude: 25.1,
        latitude: 54.7,
        altitude: 100,
        angle: 90,
        satellites: 9,
        speed: 50,
        eventIoId: 0,
        io: [],
      },
    ]);
    const bad = Uint8Array.from(good);
    bad[bad.length - 1]! ^= 0xff;
    client.write(bad);
    await expectNoAck(client);
    expect(
      (await sql`select 1 from telemetry where device_time = ${new Date(Date.UTC(2026, 0, 1))}`).length,
    ).toBe(0);
    expect(await client.send(good)).toBe(1);
    await client.close();
  });

  it('stores a retransmitted packet once although it acknowledges both copies; the stream keeps one', async () => {
    const jsm = await jetstreamManager(nc);
    const { streams, subjects } = topology();
    const subject = subjects.up(TENANT, FMB920 as DeviceId, 'telemetry');
    const inStream = async () =>
      (await jsm.streams.info(streams.TELEMETRY.name, { subjects_filter: subject })).state.subjects?.[
        subject
      ] ?? 0;
    const before = await inStream();
    const client = await TrackerClient.connect({ port, imei: FMB920 });
    expect(await client.login()).toBe(true);
    const t = Date.UTC(2026, 1, 2, 3, 4, 5);
    const packet = encodeAvlPacket(0x8e, [
      {
        timestamp: t,
        priority: 1,
        longitude: 1,
        latitude: 2,
        altitude: 3,
        angle: 4,
        satellites: 5,
        speed: 6,
        eventIoId: 0,
        io: [],
      },
      {
        timestamp: t + 1000,
        priority: 1,
        longitude: 1,
        latitude: 2,
        altitude: 3,
        angle: 4,
        satellites: 5,
        speed: 6,
        eventIoId: 0,
        io: [],
      },
    ]);
    expect(await client.send(packet)).toBe(2);
    expect(await client.send(packet)).toBe(2);
    await client.close();
    // The retransmission carries the same message id: backend consumers of the stream see it once.
    expect((await inStream()) - before).toBe(1);
    // A different connection retransmitting after the stream's dedup window is covered by the table key.
    await writer.ctx.sql!`select 1`;
    const stored = await eventually(async () => {
      const r =
        await sql`select device_time from telemetry where device_id = ${FMB920} and device_time >= ${new Date(t)} and device_time <= ${new Date(t + 1000)}`;
      return r.length >= 2 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(stored).toHaveLength(2);
    expect(
      (
        await sql`select count(*)::int as n from telemetry where device_id = ${FMB920} and device_time between ${new Date(t)} and ${new Date(t + 1000)}`
      )[0]!.n,
    ).toBe(2);
  });

  it('keeps a packet sent right behind the login intact while other trackers are read meanwhile', async () => {
    const at = Date.UTC(2026, 2, 3, 4, 5, 6);
    const records = (count: number, from: number) =>
      Array.from({ length: count }, (_, i) => ({
        timestamp: from + i * 1000,
        priority: 0 as const,
        longitude: 25,
        latitude: 54,
        altitude: 100,
        angle: 90,
        satellites: 9,
        speed: 40,
        eventIoId: 0,
        io: [{ id: 66, width: 2 as const, value: 12_000 + i }],
      }));
    const busy = await TrackerClient.connect({ port, imei: OTHER });
    expect(await busy.login()).toBe(true);
    // A device the registry has not cached, whose lookup waits for a lock this test holds.
    const late = '356307042449999';
    await sql`insert into devices (tenant_id, id, kind) values ('default', ${late}, 'tracker')`;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked = () => {};
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = sql.begin(async (tx) => {
      await tx`lock table devices in access exclusive mode`;
      locked();
      await released;
    });
    await isLocked;
    // Login and packet in one write, so that one read holds both: the edge keeps the packet while the
    // registry waits, and reads the other tracker's larger packet (into the same buffer) meanwhile.
    const early = net.connect({ port, host: '127.0.0.1' });
    const replies: Buffer[] = [];
    early.on('data', (chunk) => replies.push(chunk));
    await new Promise((resolve) => early.once('connect', resolve));
    early.write(Buffer.concat([encodeLogin(late), encodeAvlPacket(0x8e, records(2, at))]));
    await new Promise((r) => setTimeout(r, 200));
    expect(await busy.send(encodeAvlPacket(0x8e, records(12, at + 100_000)))).toBe(12);
    release();
    await holder;
    // Login accepted (01), then the record count 2.
    const answered = await eventually(async () =>
      Buffer.concat(replies).length >= 5 ? Buffer.concat(replies) : undefined,
    );
    expect(answered.toString('hex')).toBe('0100000002');
    const stored = await eventually(async () => {
      const r =
        await sql`select device_time, io from telemetry where device_id = ${late} and device_time between ${new Date(at)} and ${new Date(at + 1000)} order by device_time`;
      return r.length === 2 ? r : undefined;
    });
    expect(stored.map((r) => (r.device_time as Date).getTime())).toEqual([at, at + 1000]);
    expect(stored.map((r) => r.io)).toEqual([{ '66': 12_000 }, { '66': 12_001 }]);
    await busy.close();
    early.destroy();
  });

  it('delivers a Codec 12 command from the down subject and publishes the response on reply; one command in flight', async () => {
    const client = await TrackerClient.connect({ port, imei: OTHER });
    expect(await client.login()).toBe(true);
    const s = topology().subjects;
    const sub = nc.subscribe(s.up(TENANT, OTHER as DeviceId, 'reply'));
    const request = (commandId: string, text: string) =>
      nc.request(
        s.down(TENANT, OTHER as DeviceId),
        encodeProtoMsg({
          hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST },
          body: encodePayload(CommandRequestBody, {
            commandId: commandId as CommandId,
            name: 'codec12',
            args: { text },
          }),
        }),
        { timeout: 2_000 },
      );
    const first = decodeProtoMsg((await request('cmd-1', 'getinfo')).data);
    expect(first.hdr).toMatchObject({ proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.ACK });
    const command = await client.nextCommand();
    expect(command.text).toBe('getinfo');

    const busy = decodeProtoMsg((await request('cmd-2', 'getver')).data);
    expect(busy.hdr.typ).toBe(MSG_TYPE.CONTROL.ERROR);
    expect(decodePayload(busy.body, ControlErrorBody)).toMatchObject({ code: 409, close: false });

    client.write(hexToBytes(CODEC12_GETINFO_RESPONSE));
    const msg = await (async () => {
      for await (const m of sub) return m;
    })();
    const reply = decodeBusMessage(msg!.data, CommandReply).payload;
    expect(reply).toMatchObject({ deviceId: OTHER, commandId: 'cmd-1', ok: true });
    expect(reply.text).toMatch(/^INI:2019\/7\/22 7:22 RTC/);
    // A response is never answered with a record count.
    await expectNoAck(client, 300);
    // With the first command answered, the next may go out.
    const again = decodeProtoMsg((await request('cmd-3', 'getver')).data);
    expect(again.hdr.typ).toBe(MSG_TYPE.COMMAND.ACK);
    expect((await client.nextCommand()).text).toBe('getver');
    client.write(encodeCodec12('Ver:03.27.07', { type: 'response' }));
    await client.close();
  });

  it('answers "no responders" for a tracker that is not connected', async () => {
    const s = topology().subjects;
    await expect(
      nc.request(s.down(TENANT, '111111111111111' as DeviceId), new Uint8Array(), { timeout: 1_000 }),
    ).rejects.toThrow(/no responders/i);
  });

  it('publishes Codec 13 messages as events and never acknowledges them', async () => {
    const client = await TrackerClient.connect({ port, imei: FMB920 });
    expect(await client.login()).toBe(true);
    const sub = nc.subscribe(topology().subjects.up(TENANT, FMB920 as DeviceId, 'event'), { max: 1 });
    client.write(hexToBytes(CODEC13_HELLO));
    for await (const m of sub) {
      expect(decodeProtoMsg(m.data).hdr).toMatchObject({ proto: PROTO.EVENT, typ: 'event' });
    }
    await expectNoAck(client, 300);
    await client.close();
  });

  it('closes a connection whose frame announces more than the limit', async () => {
    const client = await TrackerClient.connect({ port, imei: FMB920 });
    expect(await client.login()).toBe(true);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(10_000_000, 4);
    client.write(header);
    await client.closed;
  });

  it('records presence with epochs; a newer connection replaces an older one and the stale offline is ignored', async () => {
    const presence = nc.subscribe(topology().subjects.presence(TENANT, OTHER as DeviceId));
    const events: PresenceEvent[] = [];
    void (async () => {
      for await (const m of presence) events.push(decodeBusMessage(m.data, PresenceEvent).payload);
    })();
    const older = await TrackerClient.connect({ port, imei: OTHER });
    expect(await older.login()).toBe(true);
    const newer = await TrackerClient.connect({ port, imei: OTHER });
    expect(await newer.login()).toBe(true);
    await older.closed; // replaced
    await eventually(async () => (events.length >= 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    const online = events.filter((e) => e.state === 'online');
    expect(online).toHaveLength(2);
    expect(online[1]!.epoch).toBeGreaterThan(online[0]!.epoch);
    // The older connection's offline could not win against the newer online.
    expect(events.filter((e) => e.state === 'offline')).toHaveLength(0);
    // The telemetry service records presence in the database, ordered by epoch.
    const recorded = () => sql`select state, epoch from device_presence where device_id = ${OTHER}`;
    await eventually(async () => {
      const [row] = await recorded();
      return row && Number(row.epoch) === online[1]!.epoch && row.state === 'online' ? true : undefined;
    });
    await newer.close();
    await eventually(async () =>
      events.some((e) => e.state === 'offline' && e.epoch === online[1]!.epoch) ? true : undefined,
    );
    await eventually(async () => {
      const [row] = await recorded();
      return row?.state === 'offline' && Number(row.epoch) === online[1]!.epoch ? true : undefined;
    });
    presence.unsubscribe();
  });
});
