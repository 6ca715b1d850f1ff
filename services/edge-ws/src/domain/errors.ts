/**
 * The error codes a device reads in `{error, message, field?}` answers (docs/websocket-channel.md).
 * Each code has one HTTP status; the codes are part of the device contract and never change meaning.
 */
export const DEVICE_ERROR = {
  INVALID_REQUEST: 'invalid_request',
  BAD_CREDENTIAL: 'bad_credential',
  BAD_PROVISIONING_KEY: 'bad_provisioning_key',
  UNKNOWN_DEVICE: 'unknown_device',
  ALREADY_PROVISIONED: 'already_provisioned',
  SUBPROTOCOL_REQUIRED: 'subprotocol_required',
  SESSION_MISSING: 'session_missing',
  SESSION_UNKNOWN: 'session_unknown',
  SESSION_EXPIRED: 'session_expired',
  SESSION_REVOKED: 'session_revoked',
  DEVICE_DEPROVISIONED: 'device_deprovisioned',
  LOG_TOO_LARGE: 'log_too_large',
  NOT_FOUND: 'not_found',
  SHUTTING_DOWN: 'shutting_down',
  UNAVAILABLE: 'unavailable',
  INTERNAL: 'internal_error',
} as const;
export type DeviceErrorCode = (typeof DEVICE_ERROR)[keyof typeof DEVICE_ERROR];

export const DEVICE_ERROR_STATUS: Readonly<Record<DeviceErrorCode, number>> = {
  invalid_request: 400,
  bad_credential: 401,
  bad_provisioning_key: 401,
  unknown_device: 401,
  already_provisioned: 409,
  subprotocol_required: 400,
  session_missing: 401,
  session_unknown: 401,
  session_expired: 401,
  session_revoked: 401,
  device_deprovisioned: 403,
  log_too_large: 413,
  not_found: 404,
  shutting_down: 503,
  unavailable: 503,
  internal_error: 500,
};

/** A refusal meant for the device: its code, status and message are shown as they are. */
export class DeviceError extends Error {
  readonly code: DeviceErrorCode;
  readonly status: number;
  readonly field: string | undefined;

  constructor(code: DeviceErrorCode, message: string, opts: ErrorOptions & { field?: string } = {}) {
    super(message, opts);
    this.name = 'DeviceError';
    this.code = code;
    this.status = DEVICE_ERROR_STATUS[code];
    this.field = opts.field;
  }

  /** The JSON body every refusal carries. */
  toBody(): { error: DeviceErrorCode; message: string; field?: string } {
    return { error: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) };
  }
}
