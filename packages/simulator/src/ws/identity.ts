import os from 'node:os';
import type { SessionRequest } from '../adapters/device-http.ts';
import { hashSeed } from '../random.ts';

/** What a gateway reports about itself at session start and answers to `get_d_parameters`. */
export interface GatewayIdentity {
  /** 12 digits, like the seed device's `S[serial_no]` (251306200097). */
  serial: string;
  /** 12 digits, the seed's `S[serial_no_hw]`. */
  hwSerial: string;
  mac: string;
  localIp: string;
  firmware: string;
  model: string;
}

/**
 * A gateway's session-start body (docs/websocket-channel.md §2): its id, its credential, or the fleet
 * provisioning key when it has none yet, and the identity it reports.
 */
export function sessionRequestOf(
  deviceId: string,
  identity: GatewayIdentity,
  credential: string | undefined,
  provisioningKey: string | undefined,
): SessionRequest {
  const key = credential === undefined ? provisioningKey : undefined;
  const { firmware, model, serial, hwSerial, mac, localIp } = identity;
  return {
    deviceId,
    ...(credential !== undefined ? { credential } : {}),
    ...(key !== undefined ? { provisioningKey: key } : {}),
    identity: { serial, hwSerial, mac, localIp, firmware, model },
  };
}

export const GATEWAY_FIRMWARE = 'fwgw-2.4.1';
export const GATEWAY_MODEL = 'FW-GW1 (Raspberry Pi 4)';

/** A seed that is already a short safe token names the fleet readably; any other is hashed. */
function seedToken(seed: string): string {
  return /^[A-Za-z0-9_-]{1,40}$/.test(seed) ? seed : `s${hashSeed(seed).toString(16).padStart(8, '0')}`;
}

/** `gw-<seed>-0007`: a valid device id (1-64 of A-Z a-z 0-9 _ -), the same for the same seed and index. */
export function wsDeviceId(seed: string, index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`gateway index ${index} is not valid`);
  return `gw-${seedToken(seed)}-${String(index).padStart(4, '0')}`;
}

/** The device ids of a fleet's gateways, in device order. */
export function wsDeviceIds(seed: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => wsDeviceId(seed, i));
}

const hex2 = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
const digits = (n: number, width: number) => String(n % 10 ** width).padStart(width, '0');

/**
 * A made-up identity for gateway `index` of the fleet `seed`, derived from both so that a restarted
 * fleet reports the same serials and addresses. The MAC is locally administered (02:…) and unique
 * per fleet for the first 16 million gateways; the IP is a plausible private LAN address.
 */
export function fleetIdentity(seed: string, index: number): GatewayIdentity {
  const h = hashSeed(seed);
  const hw = hashSeed(`${seed}:hw`);
  return {
    serial: `25${digits(h, 4)}${digits(index, 6)}`,
    hwSerial: `72${digits(hw, 4)}${digits(index, 6)}`,
    mac: ['02', hex2(h >>> 8), hex2(h), hex2(index >>> 16), hex2(index >>> 8), hex2(index)].join(':'),
    localIp: `10.${h & 0xff}.${Math.floor(index / 254) % 256}.${1 + (index % 254)}`,
    firmware: GATEWAY_FIRMWARE,
    model: GATEWAY_MODEL,
  };
}

type Interfaces = ReturnType<typeof os.networkInterfaces>;

/**
 * The identity of this machine as the seed device simulator takes it: MAC and address of the first
 * non-internal IPv4 interface (loopback values when there is none), serials from the fleet seed.
 */
export function hostIdentity(seed: string, interfaces: Interfaces = os.networkInterfaces()): GatewayIdentity {
  const nic = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .find((i) => i.family === 'IPv4' && !i.internal);
  return {
    ...fleetIdentity(seed, 0),
    mac: nic?.mac ?? '00:00:00:00:00:00',
    localIp: nic?.address ?? '127.0.0.1',
  };
}
