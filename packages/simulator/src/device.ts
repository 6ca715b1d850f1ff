/**
 * A simulated device of any kind: Teltonika trackers over TCP and WebSocket gateways, driven by the
 * same fleet runner and reporting into the same FleetStats.
 */
export const DEVICE_KIND = { TRACKER: 'tracker', WS: 'ws' } as const;
export type DeviceKind = (typeof DEVICE_KIND)[keyof typeof DEVICE_KIND];

export const DEVICE_STATE = {
  IDLE: 'idle',
  CONNECTING: 'connecting',
  ONLINE: 'online',
  WAITING: 'waiting',
  STOPPED: 'stopped',
} as const;
export type DeviceState = (typeof DEVICE_STATE)[keyof typeof DEVICE_STATE];

export interface Device {
  /** The id the platform knows the device by (an IMEI for trackers, e.g. `gw-fleetwire-0001` for gateways). */
  readonly id: string;
  readonly kind: DeviceKind;
  readonly state: DeviceState;
  /** Starts connecting after `delayMs` and keeps the device alive until stop(). */
  start(delayMs?: number): void;
  /** Closes the connection for good; resolves once the socket is closed. */
  stop(): Promise<void>;
}
