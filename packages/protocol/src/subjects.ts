/**
 * The only place NATS subjects are built or parsed. Every subject starts with
 * `<root>.<tenant>.` so that a tenant-scoped wildcard can never reach another tenant, and the
 * root lets several environments (or test files) share one NATS server.
 *
 *   <root>.<tenant>.up.<device>.<kind>        device → cloud (JetStream)
 *   <root>.<tenant>.down.<device>             cloud → device, core request/reply (no responders = offline)
 *   <root>.<tenant>.presence.<device>         online/offline (JetStream)
 *   <root>.<tenant>.cmd.<device>.<state>      command state changes (JetStream)
 *   <root>.<tenant>.dispatch.<device>         command delivery work items (JetStream work queue)
 *   <root>.<tenant>.session.<sid>.<dir>       interactive sessions (core NATS)
 *   <root>.<tenant>.notify.<event.type>       webhook work items (JetStream work queue)
 *   <root>.<tenant>.notify.held.<host>.<due>  webhook retries held until a time, outside any consumer
 *   <root>.<tenant>.ctl.edge.<edgeId>         edge control (core NATS)
 */
import { PROTOCOL_ERROR, ProtocolError } from './errors.ts';
import {
  type DeviceId,
  type EdgeId,
  isSafeToken,
  parseDeviceId,
  parseEdgeId,
  parseSessionId,
  parseTenantId,
  type SessionId,
  type TenantId,
} from './ids.ts';

export const UP_KIND = {
  TELEMETRY: 'telemetry',
  EVENT: 'event',
  STATUS: 'status',
  REPLY: 'reply',
  LOG: 'log',
} as const;
export type UpKind = (typeof UP_KIND)[keyof typeof UP_KIND];

export const COMMAND_STATE = {
  QUEUED: 'queued',
  SENT: 'sent',
  DELIVERED: 'delivered',
  COMPLETED: 'completed',
  FAILED: 'failed',
  EXPIRED: 'expired',
  SUPERSEDED: 'superseded',
  CANCELLED: 'cancelled',
} as const;
export type CommandState = (typeof COMMAND_STATE)[keyof typeof COMMAND_STATE];

export const SESSION_DIR = { TO_DEVICE: 'to-device', FROM_DEVICE: 'from-device' } as const;
export type SessionDir = (typeof SESSION_DIR)[keyof typeof SESSION_DIR];

export const DEFAULT_SUBJECT_ROOT = 'fw';
/** Notify event types are dotted, e.g. `device.offline`; each part is a safe token. */
export const MAX_EVENT_TYPE_TOKENS = 8;

const UP_KINDS: ReadonlySet<string> = new Set(Object.values(UP_KIND));
const COMMAND_STATES: ReadonlySet<string> = new Set(Object.values(COMMAND_STATE));
const SESSION_DIRS: ReadonlySet<string> = new Set(Object.values(SESSION_DIR));

export type ParsedSubject =
  | { type: 'up'; tenant: TenantId; deviceId: DeviceId; kind: UpKind }
  | { type: 'down'; tenant: TenantId; deviceId: DeviceId }
  | { type: 'dispatch'; tenant: TenantId; deviceId: DeviceId }
  | { type: 'presence'; tenant: TenantId; deviceId: DeviceId }
  | { type: 'cmd'; tenant: TenantId; deviceId: DeviceId; state: CommandState }
  | { type: 'session'; tenant: TenantId; sessionId: SessionId; dir: SessionDir }
  | { type: 'notify'; tenant: TenantId; eventType: string }
  | { type: 'notify-held'; tenant: TenantId; hostKey: string; dueAtSec: number }
  | { type: 'edge-ctl'; tenant: TenantId; edgeId: EdgeId };

export interface Subjects {
  readonly root: string;
  up(tenant: TenantId, deviceId: DeviceId, kind: UpKind): string;
  down(tenant: TenantId, deviceId: DeviceId): string;
  presence(tenant: TenantId, deviceId: DeviceId): string;
  cmd(tenant: TenantId, deviceId: DeviceId, state: CommandState): string;
  /** Work item for the command dispatcher: "look at this device's open commands". */
  dispatch(tenant: TenantId, deviceId: DeviceId): string;
  session(tenant: TenantId, sessionId: SessionId, dir: SessionDir): string;
  notify(tenant: TenantId, eventType: string): string;
  /**
   * A webhook retry held in NOTIFY until `dueAtSec` (unix seconds) without a consumer slot; `hostKey`
   * (a safe token) names the target host, so its held retries can be found and released together.
   */
  notifyHeld(tenant: TenantId, hostKey: string, dueAtSec: number): string;
  edgeCtl(tenant: TenantId, edgeId: EdgeId): string;

  /** `<root>.*.up.*.<kind>`, or every kind when omitted. */
  upAll(kind?: UpKind): string;
  upFor(tenant: TenantId, kind?: UpKind): string;
  upForDevice(tenant: TenantId, deviceId: DeviceId): string;
  downFor(tenant: TenantId): string;
  presenceAll(): string;
  presenceFor(tenant: TenantId): string;
  cmdAll(state?: CommandState): string;
  cmdFor(tenant: TenantId, state?: CommandState): string;
  cmdForDevice(tenant: TenantId, deviceId: DeviceId): string;
  dispatchAll(): string;
  sessionFor(tenant: TenantId, sessionId: SessionId): string;
  /** `<root>.*.notify.<eventType>` (one work item kind across tenants), or every kind when omitted. */
  notifyAll(eventType?: string): string;
  notifyFor(tenant: TenantId): string;
  /** Every held retry, `<root>.*.notify.held.*.*`, or those of one host. */
  notifyHeldAll(hostKey?: string): string;
  /** One tenant's held retries, `<root>.<tenant>.notify.held.*.*`. */
  notifyHeldFor(tenant: TenantId): string;
  /** An edge serves every tenant, so it listens on `<root>.*.ctl.edge.<edgeId>`. */
  edgeCtlAll(edgeId: EdgeId): string;
  /** Everything of one tenant: `<root>.<tenant>.>`. */
  tenantAll(tenant: TenantId): string;
  /** Everything under this root: `<root>.>`. */
  all(): string;

  /** Parses a concrete subject (no wildcards) built by this root; throws INVALID_SUBJECT otherwise. */
  parse(subject: string): ParsedSubject;
}

export interface SubjectsOptions {
  /** A safe token (1–64 of `[A-Za-z0-9_-]`); default `fw`. */
  root?: string;
}

export function checkRoot(root: string): string {
  if (!isSafeToken(root)) {
    throw new ProtocolError(
      PROTOCOL_ERROR.INVALID_SUBJECT,
      `subject root must be a safe token, got ${JSON.stringify(root)}`,
    );
  }
  return root;
}

function checkOneOf<T extends string>(set: ReadonlySet<string>, value: string, what: string): T {
  if (!set.has(value))
    throw new ProtocolError(PROTOCOL_ERROR.INVALID_SUBJECT, `unknown ${what} ${JSON.stringify(value)}`);
  return value as T;
}

/** The notify event type under which held webhook retries wait (`notify.held.<host>.<due>`). */
const HELD = 'held';

function checkHostKey(hostKey: string): string {
  if (!isSafeToken(hostKey)) {
    throw new ProtocolError(
      PROTOCOL_ERROR.INVALID_SUBJECT,
      `host key must be a safe token, got ${JSON.stringify(hostKey)}`,
    );
  }
  return hostKey;
}

function checkDueAt(dueAtSec: number): number {
  if (!Number.isSafeInteger(dueAtSec) || dueAtSec < 0) {
    throw new ProtocolError(
      PROTOCOL_ERROR.INVALID_SUBJECT,
      `due time must be whole unix seconds, got ${dueAtSec}`,
    );
  }
  return dueAtSec;
}

export function parseEventType(eventType: string): string {
  const tokens = typeof eventType === 'string' ? eventType.split('.') : [];
  if (tokens.length === 0 || tokens.length > MAX_EVENT_TYPE_TOKENS || !tokens.every(isSafeToken)) {
    throw new ProtocolError(
      PROTOCOL_ERROR.INVALID_SUBJECT,
      `event type must be 1–${MAX_EVENT_TYPE_TOKENS} dot-separated safe tokens, got ${JSON.stringify(eventType)}`,
    );
  }
  return eventType;
}

export function subjects(options: SubjectsOptions = {}): Subjects {
  const root = checkRoot(options.root ?? DEFAULT_SUBJECT_ROOT);
  const t = (tenant: TenantId) => parseTenantId(tenant);
  const d = (deviceId: DeviceId) => parseDeviceId(deviceId);
  const kindOrAny = (kind?: UpKind) =>
    kind === undefined ? '*' : checkOneOf<UpKind>(UP_KINDS, kind, 'up kind');
  const stateOrAny = (state?: CommandState) =>
    state === undefined ? '*' : checkOneOf<CommandState>(COMMAND_STATES, state, 'command state');

  return Object.freeze({
    root,
    up: (tenant, deviceId, kind) => `${root}.${t(tenant)}.up.${d(deviceId)}.${kindOrAny(kind)}`,
    down: (tenant, deviceId) => `${root}.${t(tenant)}.down.${d(deviceId)}`,
    presence: (tenant, deviceId) => `${root}.${t(tenant)}.presence.${d(deviceId)}`,
    cmd: (tenant, deviceId, state) => `${root}.${t(tenant)}.cmd.${d(deviceId)}.${stateOrAny(state)}`,
    dispatch: (tenant, deviceId) => `${root}.${t(tenant)}.dispatch.${d(deviceId)}`,
    session: (tenant, sessionId, dir) =>
      `${root}.${t(tenant)}.session.${parseSessionId(sessionId)}.${checkOneOf(SESSION_DIRS, dir, 'session direction')}`,
    notify: (tenant, eventType) => `${root}.${t(tenant)}.notify.${parseEventType(eventType)}`,
    notifyHeld: (tenant, hostKey, dueAtSec) =>
      `${root}.${t(tenant)}.notify.${HELD}.${checkHostKey(hostKey)}.${checkDueAt(dueAtSec)}`,
    edgeCtl: (tenant, edgeId) => `${root}.${t(tenant)}.ctl.edge.${parseEdgeId(edgeId)}`,

    upAll: (kind) => `${root}.*.up.*.${kindOrAny(kind)}`,
    upFor: (tenant, kind) => `${root}.${t(tenant)}.up.*.${kindOrAny(kind)}`,
    upForDevice: (tenant, deviceId) => `${root}.${t(tenant)}.up.${d(deviceId)}.*`,
    downFor: (tenant) => `${root}.${t(tenant)}.down.*`,
    presenceAll: () => `${root}.*.presence.*`,
    presenceFor: (tenant) => `${root}.${t(tenant)}.presence.*`,
    cmdAll: (state) => `${root}.*.cmd.*.${stateOrAny(state)}`,
    cmdFor: (tenant, state) => `${root}.${t(tenant)}.cmd.*.${stateOrAny(state)}`,
    cmdForDevice: (tenant, deviceId) => `${root}.${t(tenant)}.cmd.${d(deviceId)}.*`,
    dispatchAll: () => `${root}.*.dispatch.*`,
    sessionFor: (tenant, sessionId) => `${root}.${t(tenant)}.session.${parseSessionId(sessionId)}.*`,
    notifyAll: (eventType) =>
      eventType === undefined ? `${root}.*.notify.>` : `${root}.*.notify.${parseEventType(eventType)}`,
    notifyFor: (tenant) => `${root}.${t(tenant)}.notify.>`,
    notifyHeldAll: (hostKey) =>
      `${root}.*.notify.${HELD}.${hostKey === undefined ? '*' : checkHostKey(hostKey)}.*`,
    notifyHeldFor: (tenant) => `${root}.${t(tenant)}.notify.${HELD}.*.*`,
    edgeCtlAll: (edgeId) => `${root}.*.ctl.edge.${parseEdgeId(edgeId)}`,
    tenantAll: (tenant) => `${root}.${t(tenant)}.>`,
    all: () => `${root}.>`,

    parse: (subject) => parseSubject(root, subject),
  } satisfies Subjects);
}

function parseSubject(root: string, subject: string): ParsedSubject {
  try {
    return parseTokens(root, typeof subject === 'string' ? subject.split('.') : []);
  } catch (error) {
    if (error instanceof ProtocolError && error.code === PROTOCOL_ERROR.INVALID_SUBJECT) throw error;
    throw new ProtocolError(
      PROTOCOL_ERROR.INVALID_SUBJECT,
      `cannot parse subject ${JSON.stringify(subject)}`,
      {
        cause: error,
      },
    );
  }
}

function parseTokens(root: string, tokens: string[]): ParsedSubject {
  const [first, tenantToken, family, ...rest] = tokens;
  if (first !== root)
    throw new ProtocolError(PROTOCOL_ERROR.INVALID_SUBJECT, `subject is not under root ${root}`);
  const tenant = parseTenantId(tenantToken);
  switch (family) {
    case 'up':
      expectTokens(rest, 2);
      return {
        type: 'up',
        tenant,
        deviceId: parseDeviceId(rest[0]),
        kind: checkOneOf(UP_KINDS, rest[1]!, 'up kind'),
      };
    case 'down':
    case 'dispatch':
    case 'presence':
      expectTokens(rest, 1);
      return { type: family, tenant, deviceId: parseDeviceId(rest[0]) };
    case 'cmd':
      expectTokens(rest, 2);
      return {
        type: 'cmd',
        tenant,
        deviceId: parseDeviceId(rest[0]),
        state: checkOneOf(COMMAND_STATES, rest[1]!, 'command state'),
      };
    case 'session':
      expectTokens(rest, 2);
      return {
        type: 'session',
        tenant,
        sessionId: parseSessionId(rest[0]),
        dir: checkOneOf(SESSION_DIRS, rest[1]!, 'session direction'),
      };
    case 'notify':
      if (rest[0] === HELD) {
        expectTokens(rest, 3);
        return {
          type: 'notify-held',
          tenant,
          hostKey: checkHostKey(rest[1]!),
          dueAtSec: checkDueAt(/^\d{1,15}$/.test(rest[2]!) ? Number(rest[2]) : Number.NaN),
        };
      }
      return { type: 'notify', tenant, eventType: parseEventType(rest.join('.')) };
    case 'ctl':
      expectTokens(rest, 2);
      if (rest[0] !== 'edge')
        throw new ProtocolError(PROTOCOL_ERROR.INVALID_SUBJECT, 'unknown control family');
      return { type: 'edge-ctl', tenant, edgeId: parseEdgeId(rest[1]) };
    default:
      throw new ProtocolError(
        PROTOCOL_ERROR.INVALID_SUBJECT,
        `unknown subject family ${JSON.stringify(family)}`,
      );
  }
}

function expectTokens(rest: string[], count: number): void {
  if (rest.length !== count) {
    throw new ProtocolError(PROTOCOL_ERROR.INVALID_SUBJECT, `expected ${count} tokens after the family`);
  }
}

/** NATS matching: `*` is exactly one token, a trailing `>` is one or more tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const wanted = pattern.split('.');
  const actual = subject.split('.');
  for (let i = 0; i < wanted.length; i++) {
    const token = wanted[i];
    if (token === '>') return i === wanted.length - 1 && actual.length > i;
    if (i >= actual.length || (token !== '*' && token !== actual[i])) return false;
  }
  return wanted.length === actual.length;
}

/** True when every subject matched by `inner` is also matched by `outer` (a filter within a stream). */
export function patternCovers(outer: string, inner: string): boolean {
  const big = outer.split('.');
  const small = inner.split('.');
  for (let i = 0; i < big.length; i++) {
    const token = big[i];
    if (token === '>') return small.length > i;
    if (i >= small.length) return false;
    if (small[i] === '>') return false;
    if (token !== '*' && token !== small[i]) return false;
  }
  return big.length === small.length;
}
