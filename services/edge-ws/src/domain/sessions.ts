import type { DeviceId, SessionId, TenantId } from '@fleetwire/protocol';
import { DEVICE_ERROR, DeviceError } from './errors.ts';

/** What a device reported about itself at session start (strings of at most 128 characters). */
export interface ReportedIdentity {
  serial?: string;
  hwSerial?: string;
  mac?: string;
  localIp?: string;
  firmware?: string;
  model?: string;
}

export interface SessionRequest {
  deviceId: DeviceId;
  credential?: string;
  provisioningKey?: string;
  identity?: ReportedIdentity;
}

/** A started session; `credential` only when this start provisioned the device. */
export interface SessionGrant {
  token: string;
  sessionId: SessionId;
  deviceId: DeviceId;
  tenant: TenantId;
  expiresAt: Date;
  heartbeatMs: number;
  credential?: string;
}

/** A session row as the upgrade and the log upload see it, with the checks done by the database clock. */
export interface SessionRecord {
  sessionId: SessionId;
  tenant: TenantId;
  deviceId: DeviceId;
  revoked: boolean;
  expired: boolean;
  /** The device row is gone, or its credential was re-issued after the session started. */
  deprovisioned: boolean;
  /** The tenant's heartbeat, or null for the edge's default. */
  tenantHeartbeatMs: number | null;
}

/** A session that may connect or upload. */
export interface DeviceSession {
  sessionId: SessionId;
  tenant: TenantId;
  deviceId: DeviceId;
  heartbeatMs: number;
}

/** The device registry and session table, as the edge needs them (adapters/identity.ts). */
export interface IdentityStore {
  /**
   * Opens a session when `credential` is the credential of the ws device `input.deviceId`, and
   * records the identity it reported; undefined otherwise.
   */
  openSessionWithCredential(credential: string, input: SessionInput): Promise<OpenedSession | undefined>;
  /** Whether any tenant has a device with this id. */
  deviceIdTaken(deviceId: DeviceId): Promise<boolean>;
  /** The tenant of a provisioning key that is not revoked. */
  provisioningKeyTenant(key: string): Promise<TenantId | undefined>;
  /**
   * Registers a new ws device with a fresh credential and opens its first session, in one
   * transaction; undefined when the device already exists.
   */
  registerAndOpenSession(
    tenant: TenantId,
    input: SessionInput,
  ): Promise<(OpenedSession & { credential: string }) | undefined>;
  findSession(token: string): Promise<SessionRecord | undefined>;
}

export interface SessionInput {
  deviceId: DeviceId;
  identity: ReportedIdentity | undefined;
  ttlMs: number;
}

export interface OpenedSession {
  tenant: TenantId;
  token: string;
  sessionId: SessionId;
  expiresAt: Date;
  tenantHeartbeatMs: number | null;
}

/**
 * Session start: the device's own credential opens a session; a provisioning key only registers a
 * device that does not exist yet, so a leaked fleet key cannot impersonate a provisioned device.
 */
export async function startSession(
  store: IdentityStore,
  request: SessionRequest,
  opts: { ttlMs: number; defaultHeartbeatMs: number },
): Promise<SessionGrant> {
  const { deviceId } = request;
  const input: SessionInput = { deviceId, identity: request.identity, ttlMs: opts.ttlMs };
  const grant = (opened: OpenedSession, credential?: string): SessionGrant => ({
    token: opened.token,
    sessionId: opened.sessionId,
    deviceId,
    tenant: opened.tenant,
    expiresAt: opened.expiresAt,
    heartbeatMs: opened.tenantHeartbeatMs ?? opts.defaultHeartbeatMs,
    ...(credential ? { credential } : {}),
  });

  if (request.credential !== undefined) {
    const opened = await store.openSessionWithCredential(request.credential, input);
    if (opened) return grant(opened);
    if (await store.deviceIdTaken(deviceId)) {
      throw new DeviceError(DEVICE_ERROR.BAD_CREDENTIAL, 'the credential does not belong to this device');
    }
    if (request.provisioningKey === undefined) throw unknownDevice(deviceId);
  }

  if (request.provisioningKey !== undefined) {
    const tenant = await store.provisioningKeyTenant(request.provisioningKey);
    if (!tenant) {
      throw new DeviceError(DEVICE_ERROR.BAD_PROVISIONING_KEY, 'unknown or revoked provisioning key');
    }
    const registered = await store.registerAndOpenSession(tenant, input);
    if (!registered) {
      throw new DeviceError(
        DEVICE_ERROR.ALREADY_PROVISIONED,
        `device ${deviceId} already exists: start its sessions with its own credential`,
      );
    }
    return grant(registered, registered.credential);
  }

  if (await store.deviceIdTaken(deviceId)) {
    throw new DeviceError(DEVICE_ERROR.INVALID_REQUEST, 'credential is required', { field: 'credential' });
  }
  throw unknownDevice(deviceId);
}

function unknownDevice(deviceId: DeviceId): DeviceError {
  return new DeviceError(
    DEVICE_ERROR.UNKNOWN_DEVICE,
    `device ${deviceId} is not registered and no provisioning key was given`,
  );
}

/** Whether a session may be used now; the refusal names why, most permanent reason first. */
export function checkSession(record: SessionRecord | undefined, defaultHeartbeatMs: number): DeviceSession {
  if (!record) throw new DeviceError(DEVICE_ERROR.SESSION_UNKNOWN, 'no such session');
  if (record.deprovisioned) {
    throw new DeviceError(
      DEVICE_ERROR.DEVICE_DEPROVISIONED,
      'the device was deleted or its credential replaced: start a new session with a valid credential',
    );
  }
  if (record.revoked) throw new DeviceError(DEVICE_ERROR.SESSION_REVOKED, 'the session was revoked');
  if (record.expired) throw new DeviceError(DEVICE_ERROR.SESSION_EXPIRED, 'the session expired');
  return {
    sessionId: record.sessionId,
    tenant: record.tenant,
    deviceId: record.deviceId,
    heartbeatMs: record.tenantHeartbeatMs ?? defaultHeartbeatMs,
  };
}

/** The session a request's token stands for, or the refusal (missing, unknown, expired, ...). */
export async function authenticate(
  store: Pick<IdentityStore, 'findSession'>,
  headers: TokenHeaders,
  defaultHeartbeatMs: number,
): Promise<DeviceSession> {
  const token = sessionTokenFrom(headers);
  if (!token) {
    throw new DeviceError(
      DEVICE_ERROR.SESSION_MISSING,
      'no session token: send Authorization: Bearer <token> or the fw_session cookie',
    );
  }
  return checkSession(await store.findSession(token), defaultHeartbeatMs);
}

/** Request headers that may carry a session token. */
export interface TokenHeaders {
  authorization?: string | undefined;
  cookie?: string | undefined;
}

export const SESSION_COOKIE = 'fw_session';
/** The seed device's cookie name. */
export const SEED_SESSION_COOKIE = 'S';

/** The session token from `Authorization: Bearer`, cookie `fw_session` or the seed's cookie `S`. */
export function sessionTokenFrom(headers: TokenHeaders): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  const cookies = parseCookies(headers.cookie ?? '');
  return cookies.get(SESSION_COOKIE) || cookies.get(SEED_SESSION_COOKIE) || undefined;
}

function parseCookies(header: string): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}
