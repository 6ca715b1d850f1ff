import {
  type CommandId,
  type CommandRequestBody,
  decodeDeviceBody,
  decodeProtoMsg,
  encodeDeviceMessage,
  encodeProtoMsg,
  isDeviceId,
  MSG_TYPE,
  PROTO,
} from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/random.ts';
import { FleetStats, formatSummary } from '../src/stats.ts';
import { FAULT_TICK, FaultInjector } from '../src/ws/faults.ts';
import { fleetIdentity, hostIdentity, wsDeviceId, wsDeviceIds } from '../src/ws/identity.ts';
import { GatewaySensors } from '../src/ws/sensors.ts';
import {
  commandResultFrame,
  OPEN_FRAME,
  PING_FRAME,
  readEdgeMessage,
  stateFrame,
  telemetryFrame,
} from '../src/ws/wire.ts';

/** A Random that returns the given values in turn (then repeats the last). */
function scripted(...values: number[]) {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

describe('fault injection (Poisson, Knuth)', () => {
  it('does nothing until enabled', () => {
    const faults = new FaultInjector(() => 0);
    expect(faults.tick()).toBe(FAULT_TICK.OFF);
  });

  it('stays unstable while k > 2, fails and clears the flag when k <= 2', () => {
    // Knuth: multiply uniforms until the product drops to e^-5 ≈ 0.0067; k = draws - 1.
    // 0.9^n stays above e^-5 for n ≤ 47, so seven draws of 0.9 then 0.001 give k = 7 (stable);
    // 0.001 at once gives k = 0 (failure).
    const faults = new FaultInjector(scripted(0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.001, 0.001));
    faults.enable();
    expect(faults.tick()).toBe(FAULT_TICK.UNSTABLE);
    expect(faults.enabled).toBe(true);
    expect(faults.tick()).toBe(FAULT_TICK.FAILURE);
    expect(faults.enabled).toBe(false);
    expect(faults.tick()).toBe(FAULT_TICK.OFF);
  });

  it('fails about 12.5 % of the ticks, P(Poisson(5) <= 2)', () => {
    const random = seededRandom('faults');
    let failures = 0;
    const n = 40_000;
    for (let i = 0; i < n; i++) {
      const faults = new FaultInjector(random);
      faults.enable();
      if (faults.tick() === FAULT_TICK.FAILURE) failures++;
    }
    expect(failures / n).toBeGreaterThan(0.115);
    expect(failures / n).toBeLessThan(0.135);
  });
});

describe('gateway identity', () => {
  it('derives valid, distinct device ids from the seed', () => {
    expect(wsDeviceId('fleetwire', 7)).toBe('gw-fleetwire-0007');
    expect(wsDeviceId('fleetwire', 12_345)).toBe('gw-fleetwire-12345');
    const odd = wsDeviceId('my fleet / prod', 0);
    expect(odd).toMatch(/^gw-s[0-9a-f]{8}-0000$/);
    const ids = wsDeviceIds('x'.repeat(40), 1000);
    expect(new Set(ids).size).toBe(1000);
    for (const id of [...ids, odd]) expect(isDeviceId(id)).toBe(true);
  });

  it('gives every gateway of a fleet its own serial and MAC, the same on every run', () => {
    const a = Array.from({ length: 2000 }, (_, i) => fleetIdentity('seed-a', i));
    expect(new Set(a.map((i) => i.mac)).size).toBe(2000);
    expect(new Set(a.map((i) => i.serial)).size).toBe(2000);
    expect(fleetIdentity('seed-a', 42)).toEqual(a[42]);
    expect(fleetIdentity('seed-b', 42).mac).not.toBe(a[42]!.mac);
    for (const id of a.slice(0, 300)) {
      expect(id.serial).toMatch(/^\d{12}$/);
      expect(id.hwSerial).toMatch(/^\d{12}$/);
      // Locally administered, unicast.
      expect(id.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
      const octets = id.localIp.split('.').map(Number);
      expect(octets[0]).toBe(10);
      expect(octets[3]).toBeGreaterThanOrEqual(1);
      expect(octets[3]).toBeLessThanOrEqual(254);
    }
  });

  it('a single gateway reports the first non-internal IPv4 interface of the machine', () => {
    const nic = (address: string, mac: string, family: 'IPv4' | 'IPv6', internal: boolean) => ({
      address,
      mac,
      family,
      internal,
      netmask: '255.255.255.0',
      cidr: null,
      ...(family === 'IPv6' ? { scopeid: 0 } : {}),
    });
    const identity = hostIdentity('fleetwire', {
      lo: [nic('127.0.0.1', '00:00:00:00:00:00', 'IPv4', true)],
      eth0: [
        nic('fe80::1', 'aa:bb:cc:dd:ee:01', 'IPv6', false),
        nic('192.168.1.20', 'aa:bb:cc:dd:ee:01', 'IPv4', false),
      ],
      eth1: [nic('10.1.1.1', 'aa:bb:cc:dd:ee:02', 'IPv4', false)],
    } as never);
    expect(identity).toMatchObject({ mac: 'aa:bb:cc:dd:ee:01', localIp: '192.168.1.20' });
    expect(hostIdentity('fleetwire', {}).localIp).toBe('127.0.0.1');
  });
});

describe('gateway sensors', () => {
  it('stay within plausible ranges over a long run', () => {
    const sensors = new GatewaySensors(seededRandom('sensors'));
    const distances = new Set<number>();
    for (let i = 1; i <= 2000; i++) {
      const s = sensors.sample(i * 10_000, 0);
      expect(s.cpuLoadPct).toBeGreaterThanOrEqual(1);
      expect(s.cpuLoadPct).toBeLessThanOrEqual(100);
      expect(s.memoryUsedPct).toBeGreaterThanOrEqual(20);
      expect(s.memoryUsedPct).toBeLessThanOrEqual(92);
      expect(s.temperatureC).toBeGreaterThan(30);
      expect(s.temperatureC).toBeLessThan(85);
      expect(s.distanceCm).toBeGreaterThanOrEqual(2);
      expect(s.distanceCm).toBeLessThanOrEqual(400);
      expect(s.uptimeS).toBe(i * 10);
      distances.add(Math.round(s.distanceCm / 10));
    }
    // Something passes in front of the sensor now and then: not one steady reading.
    expect(distances.size).toBeGreaterThan(5);
  });
});

describe('gateway frames', () => {
  it('writes frames the device-leg schemas accept', () => {
    expect(decodeProtoMsg(PING_FRAME).hdr).toEqual({ proto: PROTO.CONTROL, typ: 'ping' });
    expect(decodeDeviceBody(decodeProtoMsg(OPEN_FRAME)).body).toEqual({ versions: [1] });
    const telemetry = decodeProtoMsg(
      telemetryFrame([{ deviceTime: 1, attributes: { cpuLoadPct: 3.5 } }], 'b-1'),
    );
    expect(telemetry.hdr.props).toEqual({ msgid: 'b-1' });
    expect(decodeDeviceBody(telemetry).body).toEqual({
      records: [{ deviceTime: 1, attributes: { cpuLoadPct: 3.5 } }],
    });
    const state = decodeDeviceBody(decodeProtoMsg(stateFrame({ firmware: 'fwgw-2.4.1' }, 5)));
    expect(state).toMatchObject({
      proto: PROTO.STATUS,
      typ: 'state',
      body: { at: 5, attributes: { firmware: 'fwgw-2.4.1' } },
    });
    const result = decodeProtoMsg(
      commandResultFrame('c-1' as CommandId, { ok: false, error: 'nope' }, 'b-2'),
    );
    expect(result.hdr.props).toEqual({ msgid: 'b-2' });
    expect(decodeDeviceBody(result).body).toEqual({ commandId: 'c-1', ok: false, error: 'nope' });
  });

  it('reads what the edge sends', () => {
    const control = (typ: string, props?: Record<string, unknown>, body?: Uint8Array) =>
      encodeProtoMsg({
        hdr: { proto: PROTO.CONTROL, typ, ...(props ? { props } : {}) },
        ...(body ? { body } : {}),
      });
    expect(readEdgeMessage(control('accept', { heartbeatMs: 5000, epoch: 7, deviceId: 'gw-1' }))).toEqual({
      kind: 'accept',
      heartbeatMs: 5000,
      epoch: 7,
    });
    expect(readEdgeMessage(control('pong'))).toEqual({ kind: 'pong' });
    expect(readEdgeMessage(control('ack', { msgid: 'b-9' }))).toEqual({ kind: 'ack', msgid: 'b-9' });
    expect(
      readEdgeMessage(
        encodeDeviceMessage(PROTO.CONTROL, 'error', {
          err: 'slow down',
          close: false,
          code: 429,
          msgid: 'b-3',
        }),
      ),
    ).toEqual({ kind: 'error', err: 'slow down', close: false, code: 429, msgid: 'b-3' });
    expect(
      readEdgeMessage(encodeDeviceMessage(PROTO.CONTROL, 'close', { reason: 'session revoked' })),
    ).toEqual({
      kind: 'close',
      reason: 'session revoked',
    });
    const command = encodeDeviceMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.REQUEST, {
      commandId: 'c-7' as CommandId,
      name: 'send_msg_log',
      args: { msg: 'hi' },
    } satisfies CommandRequestBody);
    expect(readEdgeMessage(command)).toEqual({
      kind: 'command',
      request: { commandId: 'c-7', name: 'send_msg_log', args: { msg: 'hi' } },
    });
    expect(() => readEdgeMessage(Uint8Array.of(0xc1))).toThrow();
  });
});

describe('the summary line', () => {
  it('covers both kinds, and leaves out a kind the fleet does not have', () => {
    const stats = new FleetStats();
    const before = { ...stats.snapshot(), at: 0 };
    stats.connected = 4;
    stats.wsConnected = 2;
    stats.records = 10;
    stats.messages = 20;
    stats.commands = 3;
    stats.sessionsRefused = 1;
    const after = { ...stats.snapshot(), at: 10_000 };
    expect(formatSummary({ trackers: 5, wsDevices: 3 }, before, after)).toBe(
      'trackers 4/5 | 1.0 records/s | 0.0 acks/s | ws 2/3 | 2.0 messages/s | commands 3 | reconnects 0 | resends 0 | sessions refused 1',
    );
    expect(formatSummary({ trackers: 0, wsDevices: 3 }, before, after)).toMatch(
      /^ws 2\/3 \| 2\.0 messages\/s/,
    );
    expect(formatSummary({ trackers: 5, wsDevices: 0 }, before, after)).not.toContain('ws ');
  });
});
