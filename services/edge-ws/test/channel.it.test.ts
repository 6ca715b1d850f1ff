import { closeOrderIn, encodeCloseOrder, REVOCATION_EPOCH } from '@fleetwire/edge-kit';
import {
  CommandAckBody,
  type CommandId,
  CommandReply,
  CommandRequestBody,
  CommandResultBody,
  ControlCloseBody,
  ControlErrorBody,
  DeviceEventMessage,
  type DeviceId,
  DeviceLogMessage,
  DeviceStateMessage,
  decodeBusMessage,
  decodePayload,
  decodeProtoMsg,
  encodeMsgpack,
  encodePayload,
  encodeProtoMsg,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  PresenceEvent,
  type ProtoMsg,
  TelemetryMessage,
  TelemetryRecordBody,
  type TenantId,
  toStreamConfig,
} from '@fleetwire/protocol';
import { connectTestNats, createTestEnv, eventually, type TestEnv, testSql } from '@fleetwire/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClient } from './device-client.ts';
import {
  baseUrlOf,
  type RunningEdge,
  registerDevice,
  sessionToken,
  startEdge,
  TEST_HEARTBEAT_MS,
} from './support.ts';

const TENANT = 'default' as TenantId;
const MAX_FRAME = 2048;

const control = (typ: string, body?: Uint8Array, props?: Record<string, unknown>): ProtoMsg => ({
  hdr: { proto: PROTO.CONTROL, typ, ...(props ? { props } : {}) },
  ...(body ? { body } : {}),
});
const ping = () => control(MSG_TYPE.CONTROL.PING);
const telemetry = (deviceTime: number, msgid?: string): ProtoMsg => ({
  hdr: { proto: PROTO.TELEMETRY, typ: MSG_TYPE.TELEMETRY.RECORD, ...(msgid ? { props: { msgid } } : {}) },
  body: encodePayload(TelemetryRecordBody, {
    records: [{ deviceTime, position: { lat: 41.01, lon: 28.97 }, attributes: { cpu: 7 } }],
  }),
});
const uplink = (proto: number, typ: string, body: Record<string, unknown>, msgid?: string): ProtoMsg => ({
  hdr: { proto, typ, ...(msgid ? { props: { msgid } } : {}) },
  body: encodeMsgpack(body),
});
const errorBody = (m: ProtoMsg) => decodePayload(m.body, ControlErrorBody);

describe('edge-ws channel: frames, commands, limits, presence (real NATS, PostgreSQL and ws clients)', () => {
  let env: TestEnv;
  let sql: postgres.Sql;
  let nc: NatsConnection;
  let edge: RunningEdge;
  /** A second instance: takeovers across edges, the handshake timeout, and the drain. */
  let other: RunningEdge;
  let base: string;
  const subjects = () => jetStreamTopology({ root: env.subjectRoot }).subjects;
  const streams = () => jetStreamTopology({ root: env.subjectRoot }).streams;

  beforeAll(async () => {
    env = await createTestEnv('edge_ws_channel');
    [edge, other] = await Promise.all([
      startEdge(env, {
        FW_EDGE_ID: 'edge-a',
        FW_WS_MAX_FRAME: String(MAX_FRAME),
        FW_WS_RATE: '50',
        FW_WS_BURST: '20',
      }),
      startEdge(env, { FW_EDGE_ID: 'edge-b', FW_WS_HANDSHAKE_TIMEOUT: '500ms' }),
    ]);
    base = baseUrlOf(edge);
    sql = testSql(env);
    nc = await connectTestNats(env);
  });

  afterAll(async () => {
    await Promise.all([edge?.stop(), other?.stop()]);
    await nc?.close();
    await sql?.end();
  });

  /** Registers the device, starts a session and returns a connected (not yet opened) client. */
  async function connect(deviceId: string, at = base): Promise<DeviceClient> {
    const credential = await registerDevice(sql, deviceId);
    return DeviceClient.connect(at, { token: await sessionToken(at, deviceId, credential) });
  }

  async function tokenFor(deviceId: string): Promise<string> {
    const credential = await registerDevice(sql, deviceId);
    return sessionToken(base, deviceId, credential);
  }

  function watchPresence(deviceId: string) {
    const events: PresenceEvent[] = [];
    const sub = nc.subscribe(subjects().presence(TENANT, deviceId as DeviceId), {
      callback: (_err, m) => {
        events.push(decodeBusMessage(m.data, PresenceEvent).payload);
      },
    });
    return { events, ready: nc.flush(), stop: () => sub.unsubscribe() };
  }

  it('opens with control/open → accept (heartbeat, epoch, limits), answers pings, records presence', async () => {
    const presence = watchPresence('gw-open');
    await presence.ready;
    const client = await connect('gw-open');
    // Anything but control before the handshake is refused, and so is text.
    client.send(telemetry(Date.now()));
    expect(errorBody(await client.nextControl('error'))).toMatchObject({ code: 400, close: false });
    client.ws.send('hello');
    expect(errorBody(await client.nextControl('error'))).toMatchObject({ code: 400, err: /text frames/ });

    const { accept, body } = await client.open();
    const epoch = accept.hdr.props?.epoch as number;
    expect(accept.hdr.props).toEqual({
      heartbeatMs: TEST_HEARTBEAT_MS,
      deviceId: 'gw-open',
      epoch,
      maxFrameBytes: MAX_FRAME,
    });
    expect(epoch).toBeGreaterThan(0);
    expect(body).toEqual({ version: 1, protocols: [0x0100, 0x0101, 0x0102, 0x0103, 0x0104] });
    client.send(ping());
    await client.nextControl(MSG_TYPE.CONTROL.PONG);
    client.send(control(MSG_TYPE.CONTROL.OPEN, encodeMsgpack({ versions: [1] })));
    expect(errorBody(await client.nextControl('error'))).toMatchObject({ code: 400, err: /already open/ });

    await eventually(() => presence.events.find((e) => e.state === 'online'));
    expect(presence.events[0]).toMatchObject({
      state: 'online',
      epoch,
      transport: 'ws',
      deviceId: 'gw-open',
    });
    // control/close from the device ends it; presence goes offline with the same epoch.
    client.send(control(MSG_TYPE.CONTROL.CLOSE, encodeMsgpack({ reason: 'bye' })));
    expect((await client.closed).code).toBe(1000);
    const offline = await eventually(() => presence.events.find((e) => e.state === 'offline'));
    expect(offline).toMatchObject({ epoch, reason: 'closed by device' });
    presence.stop();
  });

  it('answers pings in the usual bytes (without decoding them) and in any other valid encoding, counting each', async () => {
    const client = await connect('gw-pings');
    await client.open();
    const controlFrames = async () => {
      const text = await (await fetch(`http://127.0.0.1:${edge.opsPort}/metrics`)).text();
      return Number(/fleetwire_edge_ws_frames_total\{[^}]*proto="control"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await controlFrames();
    for (let i = 0; i < 3; i++) {
      client.send(ping());
      await client.nextControl(MSG_TYPE.CONTROL.PONG);
    }
    // Another encoder's ping (a session id in the header) is still a ping.
    client.send({ hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.PING, sid: 's-1' } });
    await client.nextControl(MSG_TYPE.CONTROL.PONG);
    // Other processes on the edge may count control frames too, never fewer than ours.
    expect((await controlFrames()) - before).toBeGreaterThanOrEqual(4);
    client.ws.close();
    await client.closed;
  });

  it("answers WebSocket pings with pongs past ws's 60 pending auto-pongs: each written pong is counted off", async () => {
    const client = await connect('gw-wsping');
    await client.open();
    // ws terminates a socket with more than 60 auto-pongs not yet written: a pong whose write
    // callback did not count it off would end this connection at the 61st ping.
    for (let i = 0; i < 70; i++) {
      const pong = new Promise<Buffer>((resolve) => client.ws.once('pong', resolve));
      const cut = client.closed.then(({ code }) => Buffer.from(`closed ${code}`));
      client.ws.ping(String(i));
      expect(String(await Promise.race([pong, cut]))).toBe(String(i));
    }
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    await client.close();
  });

  it('holds frames sent right behind control/open until the device is online, then handles them in order', async () => {
    const client = await connect('gw-eager');
    client.send(control(MSG_TYPE.CONTROL.OPEN, encodeMsgpack({ versions: [1] })));
    client.send(ping());
    client.send(telemetry(Date.now(), 'eager-1'));
    // The first frame the device hears is its accept: nothing was handled before it was online.
    const accept = await client.next();
    expect(accept.hdr.typ).toBe(MSG_TYPE.CONTROL.ACCEPT);
    expect(accept.hdr.props?.epoch).toBeGreaterThan(0);
    await client.nextControl(MSG_TYPE.CONTROL.PONG);
    const ack = await client.nextControl(MSG_TYPE.CONTROL.ACK);
    expect(ack.hdr.props?.msgid).toBe('eager-1');
    await client.close();
  });

  it('refuses a handshake without version 1: control/error 426 close:true, then closes', async () => {
    const client = await connect('gw-v2');
    client.send(control(MSG_TYPE.CONTROL.OPEN, encodeMsgpack({ versions: [2] })));
    expect(errorBody(await client.nextControl('error'))).toMatchObject({ code: 426, close: true });
    expect((await client.closed).code).toBe(1002);
  });

  it('acknowledges telemetry with a msgid only once it is in JetStream, and stores a resend once', async () => {
    const client = await connect('gw-tel');
    await client.open();
    const jsm = await jetstreamManager(nc);
    const subject = subjects().up(TENANT, 'gw-tel' as DeviceId, 'telemetry');
    const deviceTime = Date.UTC(2026, 0, 2, 3, 4, 5);
    const before = Date.now();
    client.send(telemetry(deviceTime, 'tel-1'));
    const ack = await client.nextControl(MSG_TYPE.CONTROL.ACK);
    expect(ack.hdr.props).toEqual({ msgid: 'tel-1' });
    // The ack means it is stored already.
    const stored = await jsm.streams.getMessage(streams().TELEMETRY.name, { last_by_subj: subject });
    expect(stored?.header.get('Nats-Msg-Id')).toBe('default:gw-tel:tel-1');
    const message = decodeBusMessage(stored!.data, TelemetryMessage).payload;
    expect(message).toMatchObject({ tenant: 'default', deviceId: 'gw-tel', source: 'ws' });
    expect(message.records).toHaveLength(1);
    expect(message.records[0]).toMatchObject({
      deviceTime,
      position: { lat: 41.01, lon: 28.97 },
      attributes: { cpu: 7 },
    });
    expect(message.records[0]!.receivedAt).toBeGreaterThanOrEqual(before);

    // The device resends after a lost ack: acknowledged again, stored once.
    client.send(telemetry(deviceTime, 'tel-1'));
    expect((await client.nextControl(MSG_TYPE.CONTROL.ACK)).hdr.props).toEqual({ msgid: 'tel-1' });
    // Without a msgid nothing is acknowledged, but it is published.
    client.send(telemetry(deviceTime + 1000));
    client.send(ping());
    await client.nextControl(MSG_TYPE.CONTROL.PONG);
    const count = async () =>
      (await jsm.streams.info(streams().TELEMETRY.name, { subjects_filter: subject })).state.subjects?.[
        subject
      ];
    expect(await eventually(async () => ((await count()) === 2 ? 2 : undefined))).toBe(2);
    expect(client.frames.filter((f) => f.hdr.typ === MSG_TYPE.CONTROL.ACK)).toHaveLength(0);
    await client.close();
  });

  it('publishes events, alerts, state and log entries on their subjects; heartbeats only prove life', async () => {
    const client = await connect('gw-up');
    await client.open();
    const received: Array<{ subject: string; data: Uint8Array }> = [];
    const sub = nc.subscribe(subjects().upForDevice(TENANT, 'gw-up' as DeviceId), {
      callback: (_e, m) => {
        received.push({ subject: m.subject, data: m.data });
      },
    });
    await nc.flush();
    client.send(
      uplink(PROTO.EVENT, 'alert', { code: 'overheat', severity: 'critical', message: '91 C' }, 'e-1'),
    );
    client.send(uplink(PROTO.STATUS, 'state', { attributes: { firmware: '1.4.2', battery: 88 } }, 's-1'));
    client.send(
      uplink(
        PROTO.LOG,
        'entry',
        { entries: [{ at: 1_700_000_000_000, level: 'info', message: 'boot' }] },
        'l-1',
      ),
    );
    client.send(uplink(PROTO.STATUS, 'heartbeat', { seq: 1, uptimeMs: 5000 }, 'h-1'));
    const acks = new Set<unknown>();
    for (let i = 0; i < 4; i++) acks.add((await client.nextControl(MSG_TYPE.CONTROL.ACK)).hdr.props?.msgid);
    expect(acks).toEqual(new Set(['e-1', 's-1', 'l-1', 'h-1']));
    await eventually(() => received.length >= 3);
    await nc.flush();
    sub.unsubscribe();
    const bySubject = new Map(received.map((r) => [r.subject.split('.').at(-1), r.data]));
    expect([...bySubject.keys()].sort()).toEqual(['event', 'log', 'status']);
    expect(decodeBusMessage(bySubject.get('event')!, DeviceEventMessage)).toMatchObject({
      typ: 'alert',
      payload: { code: 'overheat', severity: 'critical', source: 'ws', deviceId: 'gw-up' },
    });
    expect(decodeBusMessage(bySubject.get('status')!, DeviceStateMessage).payload.attributes).toEqual({
      firmware: '1.4.2',
      battery: 88,
    });
    expect(decodeBusMessage(bySubject.get('log')!, DeviceLogMessage).payload.entries[0]!.message).toBe(
      'boot',
    );

    // A bad body changes nothing and is answered with 400 naming the field, echoing the msgid.
    client.send(uplink(PROTO.TELEMETRY, 'record', { records: [{ deviceTime: 'yesterday' }] }, 'bad-1'));
    const refusal = errorBody(await client.nextControl(MSG_TYPE.CONTROL.ERROR));
    expect(refusal).toMatchObject({
      code: 400,
      close: false,
      msgid: 'bad-1',
      msgproto: PROTO.TELEMETRY,
      msgtype: 'record',
    });
    expect(refusal.err).toContain('body.records.0.deviceTime');
    client.send(uplink(PROTO.SHELL, 'shell', {}));
    expect(errorBody(await client.nextControl(MSG_TYPE.CONTROL.ERROR))).toMatchObject({
      code: 400,
      err: /no uplink route/,
    });
    await client.close();
  });

  it('delivers a command from the down subject, answers "sent", and puts the device\'s ack and result on reply', async () => {
    const client = await connect('gw-cmd');
    await client.open();
    const s = subjects();
    const replies: CommandReply[] = [];
    const types: string[] = [];
    const sub = nc.subscribe(s.up(TENANT, 'gw-cmd' as DeviceId, 'reply'), {
      callback: (_e, m) => {
        const bus = decodeBusMessage(m.data, CommandReply);
        types.push(bus.typ);
        replies.push(bus.payload);
      },
    });
    await nc.flush();
    const request = (msg: ProtoMsg) =>
      nc.request(s.down(TENANT, 'gw-cmd' as DeviceId), encodeProtoMsg(msg), { timeout: 3_000 });
    const answer = decodeProtoMsg(
      (
        await request({
          hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST },
          body: encodePayload(CommandRequestBody, {
            commandId: 'cmd-1' as CommandId,
            name: 'send_msg_log',
            args: { msg: 'hello' },
          }),
        })
      ).data,
    );
    expect(answer.hdr).toMatchObject({ proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.ACK });
    expect(decodePayload(answer.body, CommandAckBody)).toEqual({ commandId: 'cmd-1' });

    const command = await client.next((m) => m.hdr.proto === PROTO.COMMAND);
    expect(command.hdr.typ).toBe(MSG_TYPE.COMMAND.REQUEST);
    expect(decodePayload(command.body, CommandRequestBody)).toEqual({
      commandId: 'cmd-1',
      name: 'send_msg_log',
      args: { msg: 'hello' },
    });
    client.send({
      hdr: { proto: PROTO.COMMAND, typ: 'ack' },
      body: encodePayload(CommandAckBody, { commandId: 'cmd-1' as CommandId }),
    });
    client.send({
      hdr: { proto: PROTO.COMMAND, typ: 'result' },
      body: encodePayload(CommandResultBody, { commandId: 'cmd-1' as CommandId, ok: true, output: 'logged' }),
    });
    await eventually(() => replies.length >= 2);
    expect(types).toEqual([MSG_TYPE.COMMAND.ACK, MSG_TYPE.COMMAND.RESULT]);
    expect(replies[0]).toMatchObject({ tenant: 'default', deviceId: 'gw-cmd', commandId: 'cmd-1' });
    expect(replies[1]).toMatchObject({ commandId: 'cmd-1', ok: true, output: 'logged' });
    sub.unsubscribe();

    // The device gets the request's body as it came (checked, not decoded and encoded again): here
    // a map16 header where the edge's encoder would write a fixmap.
    const key = (text: string) => [...encodeMsgpack(text)];
    const asSent = Uint8Array.of(
      0xde,
      0,
      2,
      ...key('commandId'),
      ...key('cmd-2'),
      ...key('name'),
      ...key('reboot'),
    );
    await request({ hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST }, body: asSent });
    const forwarded = await client.next((m) => m.hdr.proto === PROTO.COMMAND);
    expect(Buffer.from(forwarded.body!).toString('hex')).toBe(Buffer.from(asSent).toString('hex'));
    expect(decodePayload(forwarded.body, CommandRequestBody)).toEqual({ commandId: 'cmd-2', name: 'reboot' });

    // Anything but COMMAND/request is unsupported (422); a malformed request is a 400.
    const unsupported = decodeProtoMsg((await request({ hdr: { proto: PROTO.SHELL, typ: 'new' } })).data);
    expect(unsupported.hdr.typ).toBe(MSG_TYPE.CONTROL.ERROR);
    expect(errorBody(unsupported)).toMatchObject({ code: 422, close: false });
    const malformed = decodeProtoMsg(
      (
        await request({
          hdr: { proto: PROTO.COMMAND, typ: 'request' },
          body: encodeMsgpack({ name: 'reboot' }),
        })
      ).data,
    );
    expect(errorBody(malformed)).toMatchObject({ code: 400 });
    await client.close();
    // Once the device is gone nobody answers: the requester learns it is offline. (The edge's
    // unsubscribe reaches the server a moment after the client sees its close: a request in that
    // moment times out, so ask until the server answers for itself.)
    const offline = await eventually(
      async () => {
        try {
          await nc.request(
            s.down(TENANT, 'gw-cmd' as DeviceId),
            encodeProtoMsg({ hdr: { proto: PROTO.COMMAND, typ: 'request' } }),
            {
              timeout: 500,
            },
          );
          return false;
        } catch (err) {
          return /no responders/i.test(String(err));
        }
      },
      10_000,
      'no responders',
    );
    expect(offline).toBe(true);
  });

  it('answers an oversize frame with 413 and drops it; other devices are unaffected; 4× the limit closes 1009', async () => {
    const big = await connect('gw-big');
    const calm = await connect('gw-calm');
    await Promise.all([big.open(), calm.open()]);
    big.ws.send(new Uint8Array(MAX_FRAME + 1000));
    expect(errorBody(await big.nextControl(MSG_TYPE.CONTROL.ERROR))).toMatchObject({
      code: 413,
      close: false,
    });
    big.send(ping());
    await big.nextControl(MSG_TYPE.CONTROL.PONG);
    calm.send(telemetry(Date.now(), 'calm-1'));
    expect((await calm.nextControl(MSG_TYPE.CONTROL.ACK)).hdr.props).toEqual({ msgid: 'calm-1' });

    big.ws.send(new Uint8Array(4 * MAX_FRAME + 1));
    expect((await big.closed).code).toBe(1009);
    calm.send(ping());
    await calm.nextControl(MSG_TYPE.CONTROL.PONG);
    await calm.close();
  });

  it('answers 429 over the rate limit and closes with 4008 at the third violation in a minute', async () => {
    const client = await connect('gw-flood');
    await client.open();
    for (let i = 0; i < 40; i++) client.send(ping());
    const closed = await client.closed;
    expect(closed.code).toBe(4008);
    const errors = client.frames
      .filter((f) => f.hdr.typ === MSG_TYPE.CONTROL.ERROR)
      .map((f) => errorBody(f).code);
    expect(errors).toEqual([429, 429, 429]);
    const pongs = client.frames.filter((f) => f.hdr.typ === MSG_TYPE.CONTROL.PONG).length;
    expect(pongs).toBeGreaterThanOrEqual(19); // the burst (20, less the open) went through
    expect(pongs).toBeLessThan(25);
    const close = client.frames.find((f) => f.hdr.typ === MSG_TYPE.CONTROL.CLOSE);
    expect(decodePayload(close!.body, ControlCloseBody)).toEqual({ reason: 'too many limit violations' });
  });

  it('keeps one connection per device across edges: the older is closed with 4001 and its offline is ignored', async () => {
    const presence = watchPresence('gw-dup');
    await presence.ready;
    const token = await tokenFor('gw-dup');
    const first = await DeviceClient.connect(base, { token });
    const e1 = (await first.open()).accept.hdr.props?.epoch as number;
    const second = await DeviceClient.connect(base, { token });
    const e2 = (await second.open()).accept.hdr.props?.epoch as number;
    expect(e2).toBeGreaterThan(e1);
    const told = await first.nextControl(MSG_TYPE.CONTROL.CLOSE);
    expect(decodePayload(told.body, ControlCloseBody)).toEqual({ reason: 'replaced by a newer connection' });
    expect(await first.closed).toEqual({ code: 4001, reason: 'replaced by a newer connection' });

    // The same device on another edge replaces the connection on this one.
    const third = await DeviceClient.connect(baseUrlOf(other), { token });
    const e3 = (await third.open()).accept.hdr.props?.epoch as number;
    expect(e3).toBeGreaterThan(e2);
    expect((await second.closed).code).toBe(4001);
    // Commands now reach the newest connection only.
    const answer = await nc.request(
      subjects().down(TENANT, 'gw-dup' as DeviceId),
      encodeProtoMsg({
        hdr: { proto: PROTO.COMMAND, typ: 'request' },
        body: encodePayload(CommandRequestBody, { commandId: 'cmd-dup' as CommandId, name: 'reboot' }),
      }),
      { timeout: 3_000 },
    );
    expect(decodeProtoMsg(answer.data).hdr.typ).toBe(MSG_TYPE.COMMAND.ACK);
    await third.next((m) => m.hdr.proto === PROTO.COMMAND);

    await eventually(() => presence.events.filter((e) => e.state === 'online').length === 3);
    await new Promise((r) => setTimeout(r, 300));
    // The replaced connections' offlines lost the compare-and-set: none was published.
    expect(presence.events.filter((e) => e.state === 'offline')).toEqual([]);
    expect(presence.events.map((e) => e.edgeId)).toEqual(['edge-a', 'edge-a', 'edge-b']);
    await third.close();
    await eventually(() => presence.events.find((e) => e.state === 'offline' && e.epoch === e3));
    presence.stop();
  });

  it('repeats its close order a second after going online, for older holders the first one missed', async () => {
    const orders: number[] = [];
    const sub = nc.subscribe(subjects().down(TENANT, 'gw-again' as DeviceId), {
      callback: (_err, m) => {
        const order = closeOrderIn(m.data);
        if (order) orders.push(order.epoch);
      },
    });
    await nc.flush();
    const client = await connect('gw-again');
    const epoch = (await client.open()).accept.hdr.props?.epoch as number;
    // Heartbeats of 300 ms here: keep the device alive past the repeat.
    const pinger = setInterval(() => client.send(ping()), TEST_HEARTBEAT_MS / 2);
    await eventually(() => orders.length >= 1);
    expect(orders).toEqual([epoch]);
    await eventually(() => orders.length >= 2, 5_000, 'the repeated close order');
    expect(orders).toEqual([epoch, epoch]);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(orders).toHaveLength(2);
    clearInterval(pinger);
    sub.unsubscribe();
    await client.close();
  });

  it('leaves exactly one connection when two of the same device open at the same moment', async () => {
    const token = await tokenFor('gw-race');
    for (let round = 0; round < 5; round++) {
      const [a, b] = await Promise.all([
        DeviceClient.connect(base, { token }),
        DeviceClient.connect(baseUrlOf(other), { token }),
      ]);
      const open = control(MSG_TYPE.CONTROL.OPEN, encodeMsgpack({ versions: [1] }));
      a.send(open);
      b.send(open);
      const loser = await Promise.race([a.closed.then(() => a), b.closed.then(() => b)]);
      const winner = loser === a ? b : a;
      const accept = await winner.nextControl(MSG_TYPE.CONTROL.ACCEPT);
      winner.send(ping());
      await winner.nextControl(MSG_TYPE.CONTROL.PONG);
      expect(winner.ws.readyState, `round ${round}`).toBe(winner.ws.OPEN);
      expect((await loser.closed).code).toBe(4001);
      const loserAccept = loser.frames.find((f) => f.hdr.typ === MSG_TYPE.CONTROL.ACCEPT);
      if (loserAccept) expect(loserAccept.hdr.props?.epoch).toBeLessThan(accept.hdr.props?.epoch as number);
      await winner.close();
    }
  });

  it('marks a vanished device offline within three heartbeats while a pinging one stays', async () => {
    const presence = watchPresence('gw-vanish');
    await presence.ready;
    const gone = await connect('gw-vanish');
    const alive = await connect('gw-alive');
    await Promise.all([gone.open(), alive.open()]);
    // The device stops talking and stops reading, without a close frame (a dead link).
    gone.ws.pause();
    const silentSince = Date.now();
    const pinger = setInterval(() => alive.send(ping()), TEST_HEARTBEAT_MS);
    const offline = await eventually(() => presence.events.find((e) => e.state === 'offline'), 5_000);
    const after = Date.now() - silentSince;
    clearInterval(pinger);
    expect(offline).toMatchObject({ reason: 'heartbeat timeout' });
    expect(after).toBeGreaterThanOrEqual(3 * TEST_HEARTBEAT_MS - 50);
    expect(after).toBeLessThan(3 * TEST_HEARTBEAT_MS + 1_200);
    alive.send(ping());
    await alive.nextControl(MSG_TYPE.CONTROL.PONG);
    expect(alive.ws.readyState).toBe(alive.ws.OPEN);
    await alive.close();
    presence.stop();
    gone.ws.terminate();
  });

  it('closes the connection when its sessions are revoked (control/close on the down subject)', async () => {
    const presence = watchPresence('gw-revoke');
    await presence.ready;
    const client = await connect('gw-revoke');
    await client.open();
    // A close order with an older epoch changes nothing.
    nc.publish(
      subjects().down(TENANT, 'gw-revoke' as DeviceId),
      encodeCloseOrder({ epoch: 1, reason: 'stale' }),
    );
    client.send(ping());
    await client.nextControl(MSG_TYPE.CONTROL.PONG);
    nc.publish(
      subjects().down(TENANT, 'gw-revoke' as DeviceId),
      encodeCloseOrder({ epoch: REVOCATION_EPOCH, reason: 'session revoked' }),
    );
    const told = await client.nextControl(MSG_TYPE.CONTROL.CLOSE);
    expect(decodePayload(told.body, ControlCloseBody)).toEqual({ reason: 'session revoked' });
    expect(await client.closed).toEqual({ code: 1000, reason: 'session revoked' });
    expect(await eventually(() => presence.events.find((e) => e.state === 'offline'))).toMatchObject({
      reason: 'session revoked',
    });
    presence.stop();
  });

  it('answers control/error 503 instead of an ack when the message cannot be made durable', async () => {
    const client = await connect('gw-nodur');
    await client.open();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(streams().DEVICE_EVENTS.name);
    try {
      client.send(uplink(PROTO.EVENT, 'event', { code: 'door_open' }, 'nd-1'));
      const refusal = await client.nextControl(MSG_TYPE.CONTROL.ERROR);
      expect(errorBody(refusal)).toMatchObject({ code: 503, close: false, msgid: 'nd-1' });
      expect(client.frames.some((f) => f.hdr.typ === MSG_TYPE.CONTROL.ACK)).toBe(false);
    } finally {
      await jsm.streams.add(toStreamConfig(streams().DEVICE_EVENTS));
    }
    client.send(uplink(PROTO.EVENT, 'event', { code: 'door_open' }, 'nd-1'));
    expect((await client.nextControl(MSG_TYPE.CONTROL.ACK)).hdr.props).toEqual({ msgid: 'nd-1' });
    await client.close();
  });

  it('closes a connection that never sends control/open (handshake timeout)', async () => {
    const client = await connect('gw-mute', baseUrlOf(other));
    const started = Date.now();
    expect((await client.closed).code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('drains on shutdown: each device is told "edge shutting down" and closed with 1001, presence offline', async () => {
    const presence = watchPresence('gw-drain');
    await presence.ready;
    const client = await connect('gw-drain', baseUrlOf(other));
    await client.open();
    await other.stop();
    const told = decodePayload((await client.nextControl(MSG_TYPE.CONTROL.CLOSE)).body, ControlCloseBody);
    expect(told).toEqual({ reason: 'edge shutting down' });
    expect((await client.closed).code).toBe(1001);
    const offline = await eventually(() => presence.events.find((e) => e.state === 'offline'));
    expect(offline).toMatchObject({ reason: 'edge shutting down' });
    presence.stop();
  });

  it('counts what happened in its metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${edge.opsPort}/metrics`)).text();
    expect(text).toMatch(/fleetwire_edge_ws_frames_total\{[^}]*proto="telemetry"[^}]*\} \d+/);
    expect(text).toMatch(/fleetwire_edge_ws_errors_total\{[^}]*code="429"[^}]*\} 3/);
    const takeovers = /fleetwire_edge_ws_closes_total\{[^}]*reason="takeover"[^}]*\} (\d+)/.exec(text);
    expect(Number(takeovers?.[1])).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/fleetwire_edge_ws_closes_total\{[^}]*reason="limits"[^}]*\} 1/);
    expect(text).toMatch(/fleetwire_edge_ws_acks_total\{[^}]*\} \d+/);
    expect(text).toMatch(/fleetwire_edge_ws_sessions_total\{[^}]*outcome="started"[^}]*\} \d+/);
  });
});
