/**
 * Identifiers that end up as NATS subject tokens. A token containing `.`, `*`, `>` or whitespace
 * would change which subscriptions match (and break tenant isolation), so every id is validated
 * once at the boundary and carried as a branded type from then on.
 */
import { PROTOCOL_ERROR, ProtocolError } from './errors.ts';

declare const brand: unique symbol;
type Brand<Name extends string> = string & { readonly [brand]: Name };

export type TenantId = Brand<'TenantId'>;
/** A Teltonika IMEI (15 digits), a serial number or a UUID-like WebSocket device id. */
export type DeviceId = Brand<'DeviceId'>;
export type CommandId = Brand<'CommandId'>;
/** Interactive session id (`hdr.sid`), a UUID in practice. */
export type SessionId = Brand<'SessionId'>;
/** Identifies one edge gateway process. */
export type EdgeId = Brand<'EdgeId'>;

/** Subject-safe token: 1–64 of `[A-Za-z0-9_-]`. */
export const SAFE_TOKEN_PATTERN = '^[A-Za-z0-9_-]{1,64}$';
const SAFE_TOKEN = new RegExp(SAFE_TOKEN_PATTERN);

export function isSafeToken(value: unknown): value is string {
  return typeof value === 'string' && SAFE_TOKEN.test(value);
}

function parseToken<T extends string>(kind: string, value: unknown): T {
  if (isSafeToken(value)) return value as T;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
  throw new ProtocolError(
    PROTOCOL_ERROR.INVALID_ID,
    `${kind} must be 1–64 characters of [A-Za-z0-9_-], got ${shown}`,
  );
}

export const DEFAULT_TENANT = 'default' as TenantId;

export const parseTenantId = (value: unknown): TenantId => parseToken('tenant id', value);
export const parseDeviceId = (value: unknown): DeviceId => parseToken('device id', value);
export const parseCommandId = (value: unknown): CommandId => parseToken('command id', value);
export const parseSessionId = (value: unknown): SessionId => parseToken('session id', value);
export const parseEdgeId = (value: unknown): EdgeId => parseToken('edge id', value);

export const isTenantId = (value: unknown): value is TenantId => isSafeToken(value);
export const isDeviceId = (value: unknown): value is DeviceId => isSafeToken(value);
export const isCommandId = (value: unknown): value is CommandId => isSafeToken(value);
