import {
  CommandReply,
  DeviceEventMessage,
  type DeviceId,
  DeviceLogMessage,
  DeviceStateMessage,
  decodeBusMessage,
  encodeMsgpack,
  encodePayload,
  MSG_TYPE,
  PROTO,
  type ProtoMsg,
  TelemetryMessage,
  TelemetryRecordBody,
  type TenantId,
} from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { routeUplink, type Uplink } from '../src/domain/uplink.ts';

const who = { tenant: 'acme' as TenantId, deviceId: 'gw-1' as DeviceId, receivedAt: 1_700_000_000_123 };

function frame(
  proto: number,
  typ: string,
  body: Record<string, unknown>,
  props?: Record<string, unknown>,
): ProtoMsg {
  return { hdr: { proto, typ, ...(props ? { props } : {}) }, body: encodeMsgpack(body) };
}

function published(u: Uplink) {
  if (u.kind !== 'publish') throw new Error(`expected publish, got ${JSON.stringify(u)}`);
  return u;
}

describe('routeUplink: the uplink table', () => {
  it('turns telemetry/record into a TelemetryMessage from source ws, receivedAt on every record', () => {
    const body = encodePayload(TelemetryRecordBody, {
      records: [
        { deviceTime: 1_700_000_000_000, attributes: { cpu: 12.5 } },
        { deviceTime: 1_700_000_001_000, position: { lat: 41, lon: 29 } },
      ],
    });
    const u = published(
      routeUplink({ hdr: { proto: PROTO.TELEMETRY, typ: 'record', props: { msgid: 'm-1' } }, body }, who),
    );
    expect(u.upKind).toBe('telemetry');
    expect(u.msgid).toBe('m-1');
    const bus = decodeBusMessage(u.bytes, TelemetryMessage);
    expect(bus).toMatchObject({ proto: PROTO.TELEMETRY, typ: 'record' });
    expect(bus.payload).toEqual({
      tenant: 'acme',
      deviceId: 'gw-1',
      source: 'ws',
      records: [
        { deviceTime: 1_700_000_000_000, attributes: { cpu: 12.5 }, receivedAt: who.receivedAt },
        { deviceTime: 1_700_000_001_000, position: { lat: 41, lon: 29 }, receivedAt: who.receivedAt },
      ],
    });
  });

  it('routes events, alerts, state and log entries to their subjects with attribution', () => {
    const alert = published(
      routeUplink(frame(PROTO.EVENT, 'alert', { code: 'overheat', severity: 'critical' }), who),
    );
    expect(alert.upKind).toBe('event');
    const alertBus = decodeBusMessage(alert.bytes, DeviceEventMessage);
    expect(alertBus.typ).toBe('alert');
    expect(alertBus.payload).toMatchObject({ code: 'overheat', source: 'ws', receivedAt: who.receivedAt });

    const state = published(
      routeUplink(frame(PROTO.STATUS, 'state', { attributes: { firmware: '1.2.3' } }), who),
    );
    expect(state.upKind).toBe('status');
    expect(decodeBusMessage(state.bytes, DeviceStateMessage).payload.attributes).toEqual({
      firmware: '1.2.3',
    });

    const log = published(
      routeUplink(
        frame(PROTO.LOG, 'entry', { entries: [{ at: 1, level: 'warn', message: 'disk 91%' }] }),
        who,
      ),
    );
    expect(log.upKind).toBe('log');
    expect(decodeBusMessage(log.bytes, DeviceLogMessage).payload.entries[0]!.message).toBe('disk 91%');
  });

  it('turns command/ack and command/result into CommandReply on reply, keeping the commandId', () => {
    const ack = published(routeUplink(frame(PROTO.COMMAND, 'ack', { commandId: 'cmd-1' }), who));
    expect(ack).toMatchObject({ upKind: 'reply', commandId: 'cmd-1' });
    expect(decodeBusMessage(ack.bytes, CommandReply)).toMatchObject({
      typ: MSG_TYPE.COMMAND.ACK,
      payload: { commandId: 'cmd-1', tenant: 'acme', deviceId: 'gw-1', receivedAt: who.receivedAt },
    });
    const result = published(
      routeUplink(frame(PROTO.COMMAND, 'result', { commandId: 'cmd-1', ok: false, error: 'busy' }), who),
    );
    expect(decodeBusMessage(result.bytes, CommandReply)).toMatchObject({
      typ: MSG_TYPE.COMMAND.RESULT,
      payload: { commandId: 'cmd-1', ok: false, error: 'busy' },
    });
  });

  it('treats status/heartbeat as liveness only', () => {
    expect(routeUplink(frame(PROTO.STATUS, 'heartbeat', { seq: 3 }, { msgid: 'hb-3' }), who)).toEqual({
      kind: 'liveness',
      msgid: 'hb-3',
    });
  });

  it('refuses a bad body naming the offending field, and echoes the msgid', () => {
    const u = routeUplink(
      frame(PROTO.TELEMETRY, 'record', { records: [{ deviceTime: 'yesterday' }] }, { msgid: 'm-9' }),
      who,
    );
    expect(u.kind).toBe('refused');
    expect(u).toMatchObject({ msgid: 'm-9' });
    expect((u as { err: string }).err).toContain('body.records.0.deviceTime');
    const extra = routeUplink(frame(PROTO.EVENT, 'event', { code: 'x', colour: 'red' }), who);
    expect((extra as { err: string }).err).toContain('body.colour');
  });

  it('refuses what has no route: device-to-cloud only, and Mender protocols', () => {
    for (const [proto, typ] of [
      [PROTO.COMMAND, 'request'],
      [PROTO.SHELL, 'shell'],
      [PROTO.TELEMETRY, 'summary'],
      [PROTO.EVENT, 'webhook'],
      [PROTO.STATUS, 'presence'],
    ] as const) {
      const u = routeUplink(frame(proto, typ, {}), who);
      expect(u.kind, `${proto}/${typ}`).toBe('refused');
      expect((u as { err: string }).err).toContain('no uplink route');
    }
    expect(routeUplink({ hdr: { proto: PROTO.EVENT } }, who).kind).toBe('refused');
  });

  it('refuses a msgid that could not travel as a message id header', () => {
    for (const msgid of [42, '', 'has space', 'x'.repeat(129), 'line\nbreak']) {
      const u = routeUplink(frame(PROTO.STATUS, 'heartbeat', {}, { msgid }), who);
      expect(u, JSON.stringify(msgid)).toMatchObject({ kind: 'refused', msgid: undefined });
    }
  });
});
