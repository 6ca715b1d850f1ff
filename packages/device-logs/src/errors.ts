import { FwError } from '@fleetwire/protocol';

export const DEVICE_LOG_ERROR = {
  /** The device is not in the registry of that tenant: nothing was read or written. */
  UNKNOWN_DEVICE: 'UNKNOWN_DEVICE',
  /** The upload went past its byte limit: what was written is removed, no row is stored. */
  LOG_TOO_LARGE: 'LOG_TOO_LARGE',
  /** A page cursor this package did not issue. */
  INVALID_CURSOR: 'INVALID_CURSOR',
  /** A value the store refuses before touching anything (a limit that is not a positive integer). */
  INVALID_INPUT: 'INVALID_INPUT',
} as const;
export type DeviceLogErrorCode = (typeof DEVICE_LOG_ERROR)[keyof typeof DEVICE_LOG_ERROR];

export class DeviceLogError extends FwError<DeviceLogErrorCode> {}

export class UnknownDeviceError extends DeviceLogError {
  readonly tenant: string;
  readonly deviceId: string;
  constructor(tenant: string, deviceId: string) {
    super(DEVICE_LOG_ERROR.UNKNOWN_DEVICE, `device ${JSON.stringify(deviceId)} is not registered`);
    this.tenant = tenant;
    this.deviceId = deviceId;
  }
}

export class LogTooLargeError extends DeviceLogError {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(DEVICE_LOG_ERROR.LOG_TOO_LARGE, `log is larger than ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}

export class InvalidCursorError extends DeviceLogError {
  constructor() {
    super(DEVICE_LOG_ERROR.INVALID_CURSOR, 'cursor is not valid');
  }
}
