/**
 * A simulated device of any kind. Trackers (Teltonika over TCP) exist now; WebSocket devices will
 * be a second kind driven by the same fleet runner, reporting into the same FleetStats.
 */
export const DEVICE_KIND = { TRACKER: 'tracker' } as const;
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
  /** The id the platform knows the device by (an IMEI for trackers). */
  readonly id: string;
  readonly kind: DeviceKind;
  readonly state: DeviceState;
  /** Starts connecting after `delayMs` and keeps the device alive until stop(). */
  start(delayMs?: number): void;
  /** Closes the connection for good; resolves once the socket is closed. */
  stop(): Promise<void>;
}
