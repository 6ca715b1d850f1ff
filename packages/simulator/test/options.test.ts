import { describe, expect, it } from 'vitest';
import { parseCliOptions } from '../src/options.ts';

describe('./fleetwire sim options', () => {
  it('reads every option into fleet settings', () => {
    const o = parseCliOptions([
      '--trackers',
      '2000',
      '--source-addresses',
      '8',
      '--interval',
      '2s',
      '--records-per-packet',
      '4',
      '--port',
      '6000',
      '--duration',
      '1m',
      '--faults',
      '--centre',
      '52.52,13.405',
      '--heartbeat',
      '0',
      '--register',
      '--tenant',
      'acme',
    ]);
    expect(o.fleet).toMatchObject({
      trackers: 2000,
      sourceAddresses: 8,
      port: 6000,
      durationMs: 60_000,
      centre: { lat: 52.52, lon: 13.405 },
      tracker: { intervalMs: 2000, recordsPerPacket: 4, faults: true, heartbeatMs: 0 },
    });
    expect(o).toMatchObject({ register: true, tenant: 'acme', logLevel: 'warn', help: false });
  });

  it('leaves defaults to runFleet when nothing is given', () => {
    expect(parseCliOptions([])).toEqual({
      fleet: { tracker: {}, ws: {} },
      register: false,
      tenant: 'default',
      logLevel: 'warn',
      help: false,
    });
  });

  it('reads the WebSocket gateway options', () => {
    const o = parseCliOptions([
      '--trackers',
      '0',
      '--ws-devices',
      '3',
      '--ws-url',
      'https://edge.example:8443',
      '--provisioning-key',
      'fwp_key',
      '--ws-interval',
      '0',
      '--state-dir',
      '/tmp/sim',
    ]);
    expect(o.fleet).toMatchObject({
      trackers: 0,
      wsDevices: 3,
      wsUrl: 'https://edge.example:8443',
      provisioningKey: 'fwp_key',
      stateDir: '/tmp/sim',
      ws: { telemetryIntervalMs: 0 },
    });
    expect(() => parseCliOptions(['--ws-url', 'ftp://x'])).toThrow(/--ws-url expects an http/);
    expect(() => parseCliOptions(['--ws-devices', 'many'])).toThrow(/--ws-devices/);
    expect(() => parseCliOptions(['--ws-interval', '5ms'])).toThrow(
      /--ws-interval expects a duration of at least 100ms/,
    );
    expect(parseCliOptions(['--ws-interval', '2s']).fleet.ws).toEqual({ telemetryIntervalMs: 2_000 });
  });

  it('names every bad option at once', () => {
    const bad = () => parseCliOptions(['--trackers=-1', '--interval', 'soon', '--centre', '91,0']);
    expect(bad).toThrow(/--trackers expects an integer between 0 and 1000000, got "-1"/);
    expect(bad).toThrow(/--interval expects a duration/);
    expect(bad).toThrow(/--centre expects LAT,LON/);
    expect(() => parseCliOptions(['--records-per-packet', '256'])).toThrow(/--records-per-packet/);
    expect(() => parseCliOptions(['--bogus'])).toThrow(/bogus/);
  });
});
