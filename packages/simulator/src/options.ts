import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel, parseDuration } from '@fleetwire/runtime';
import type { FleetInput } from './fleet.ts';

export const USAGE = `usage: ./fleetwire sim [options]

Runs a simulated fleet of Teltonika trackers (against edge-tcp) and WebSocket gateways (against
edge-ws) until Ctrl-C.

  --trackers N             trackers in the fleet (default 10)
  --host HOST              edge-tcp host (default 127.0.0.1)
  --port PORT              edge-tcp port (default 5027)
  --interval DURATION      one packet per tracker this often (default 5s)
  --records-per-packet N   records per packet, taken evenly over the interval (default 1)
  --seed TEXT              names the fleet: same seed, same IMEIs and tracks (default fleetwire)
  --source-addresses N     spread connections over 127.0.0.1…127.0.0.N (default 1)
  --duration DURATION      stop after this long (default: run until Ctrl-C)
  --ramp DURATION          spread device starts over this window (default: the interval)
  --register               add the fleet's IMEIs to the registry of the running stack's database
  --database-url URL       the database for --register (default: from .fleetwire/state/stack.json)
  --tenant ID              tenant for --register (default default)
  --ack-timeout DURATION   resend a packet without a record-count reply after this (default 10s)
  --heartbeat DURATION     send a 0xFF byte after this much silence; 0 = never (default 60s)
  --faults                 drop connections at random (P(Poisson(5) <= 2) per interval)
  --centre LAT,LON         centre of the tracks (default 54.6872,25.2797, Vilnius)
  --radius-km KM           tracks stay within this distance of the centre (default 10)
  --ws-devices N           WebSocket gateways in the fleet (default 0)
  --ws-url URL             edge-ws base URL (default http://127.0.0.1:8090)
  --provisioning-key KEY   fleet provisioning key for gateways without a credential yet
                           (default: $FW_SIM_PROVISIONING_KEY)
  --ws-interval DURATION   one telemetry record per gateway this often; 0 = none (default 10s)
  --state-dir DIR          gateway credentials and JSON logs (default .fleetwire/state/simulator)
  --log-level LEVEL        ${LOG_LEVELS.join(', ')} (default warn)
  -h, --help               this text`;

export interface CliOptions {
  fleet: FleetInput;
  register: boolean;
  databaseUrl?: string;
  tenant: string;
  logLevel: LogLevel;
  help: boolean;
}

/** Bad values name their option: thrown as one error listing every problem. */
export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

export function parseCliOptions(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      trackers: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      interval: { type: 'string' },
      'records-per-packet': { type: 'string' },
      seed: { type: 'string' },
      'source-addresses': { type: 'string' },
      duration: { type: 'string' },
      ramp: { type: 'string' },
      register: { type: 'boolean' },
      'database-url': { type: 'string' },
      tenant: { type: 'string' },
      'ack-timeout': { type: 'string' },
      heartbeat: { type: 'string' },
      faults: { type: 'boolean' },
      centre: { type: 'string' },
      'radius-km': { type: 'string' },
      'ws-devices': { type: 'string' },
      'ws-url': { type: 'string' },
      'provisioning-key': { type: 'string' },
      'ws-interval': { type: 'string' },
      'state-dir': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const problems: string[] = [];
  const read = <T>(
    name: string,
    raw: string | undefined,
    parse: (raw: string) => T | undefined,
    expects: string,
  ) => {
    if (raw === undefined) return undefined;
    const value = parse(raw);
    if (value === undefined) problems.push(`--${name} expects ${expects}, got ${JSON.stringify(raw)}`);
    return value;
  };
  const int = (min: number, max: number) => (raw: string) => {
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
  };
  const duration = (min: number) => (raw: string) => {
    try {
      const ms = parseDuration(raw);
      return ms >= min ? ms : undefined;
    } catch {
      return undefined;
    }
  };
  const tracker: NonNullable<FleetInput['tracker']> = {};
  const ws: NonNullable<FleetInput['ws']> = {};
  const fleet: FleetInput = { tracker, ws };
  const assign = <K extends keyof FleetInput>(key: K, value: FleetInput[K] | undefined) => {
    if (value !== undefined) fleet[key] = value;
  };
  assign(
    'trackers',
    read('trackers', values.trackers, int(0, 1_000_000), 'an integer between 0 and 1000000'),
  );
  assign(
    'host',
    read('host', values.host, (s) => (s.length > 0 ? s : undefined), 'a host name or address'),
  );
  assign('port', read('port', values.port, int(1, 65535), 'a TCP port number (1-65535)'));
  assign(
    'seed',
    read('seed', values.seed, (s) => (s.length > 0 ? s : undefined), 'a non-empty text'),
  );
  assign(
    'sourceAddresses',
    read('source-addresses', values['source-addresses'], int(1, 254), 'an integer between 1 and 254'),
  );
  assign('durationMs', read('duration', values.duration, duration(1), 'a duration such as 30s or 10m'));
  assign('rampMs', read('ramp', values.ramp, duration(0), 'a duration such as 5s'));
  assign('centre', read('centre', values.centre, parseCentre, 'LAT,LON in degrees, e.g. 54.6872,25.2797'));
  assign(
    'radiusKm',
    read(
      'radius-km',
      values['radius-km'],
      (s) => positive(Number(s), 0.1, 1_000),
      'kilometres between 0.1 and 1000',
    ),
  );
  const interval = read('interval', values.interval, duration(10), 'a duration of at least 10ms, such as 5s');
  if (interval !== undefined) tracker.intervalMs = interval;
  const perPacket = read(
    'records-per-packet',
    values['records-per-packet'],
    int(1, 255),
    'an integer between 1 and 255',
  );
  if (perPacket !== undefined) tracker.recordsPerPacket = perPacket;
  const ackTimeout = read(
    'ack-timeout',
    values['ack-timeout'],
    duration(100),
    'a duration of at least 100ms',
  );
  if (ackTimeout !== undefined) tracker.ackTimeoutMs = ackTimeout;
  const heartbeat = read('heartbeat', values.heartbeat, duration(0), 'a duration such as 60s, or 0 for none');
  if (heartbeat !== undefined) tracker.heartbeatMs = heartbeat;
  if (values.faults) tracker.faults = true;
  assign(
    'wsDevices',
    read('ws-devices', values['ws-devices'], int(0, 1_000_000), 'an integer between 0 and 1000000'),
  );
  assign('wsUrl', read('ws-url', values['ws-url'], httpUrl, 'an http:// or https:// URL'));
  assign(
    'provisioningKey',
    read('provisioning-key', values['provisioning-key'], (s) => (s.length > 0 ? s : undefined), 'a key'),
  );
  assign(
    'stateDir',
    read('state-dir', values['state-dir'], (s) => (s.length > 0 ? s : undefined), 'a folder'),
  );
  const wsInterval = read(
    'ws-interval',
    values['ws-interval'],
    (raw) => (raw === '0' ? 0 : duration(100)(raw)),
    'a duration of at least 100ms such as 10s, or 0 for none',
  );
  if (wsInterval !== undefined) ws.telemetryIntervalMs = wsInterval;
  const logLevel = read(
    'log-level',
    values['log-level'],
    (s) => ((LOG_LEVELS as readonly string[]).includes(s) ? (s as LogLevel) : undefined),
    `one of ${LOG_LEVELS.join(', ')}`,
  );
  const tenant =
    read('tenant', values.tenant, (s) => (/^[A-Za-z0-9_-]{1,64}$/.test(s) ? s : undefined), 'a tenant id') ??
    'default';
  if (problems.length > 0) throw new OptionsError(problems.join('\n'));
  return {
    fleet,
    register: values.register ?? false,
    ...(values['database-url'] ? { databaseUrl: values['database-url'] } : {}),
    tenant,
    logLevel: logLevel ?? 'warn',
    help: values.help ?? false,
  };
}

function httpUrl(raw: string): string | undefined {
  try {
    const url = new URL(raw);
    return ['http:', 'https:'].includes(url.protocol) ? raw : undefined;
  } catch {
    return undefined;
  }
}

function parseCentre(raw: string): { lat: number; lon: number } | undefined {
  const [lat, lon, ...rest] = raw.split(',').map((s) => Number(s.trim()));
  if (rest.length > 0 || lat === undefined || lon === undefined) return undefined;
  if (!(Math.abs(lat) <= 85) || !(Math.abs(lon) <= 180)) return undefined;
  return { lat, lon };
}

function positive(n: number, min: number, max: number): number | undefined {
  return Number.isFinite(n) && n >= min && n <= max ? n : undefined;
}
