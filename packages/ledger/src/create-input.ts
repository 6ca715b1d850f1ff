import {
  type CommandMetadata,
  type DeviceId,
  isDeviceId,
  isSafeToken,
  type TenantId,
} from '@fleetwire/protocol';
import { invalidInput } from './errors.ts';

export interface CreateCommandInput {
  tenant: TenantId;
  deviceId: DeviceId;
  /** What is sent: `codec12`/`codec14` for trackers (with args.text), the command name for WebSocket devices. */
  name: string;
  args?: Record<string, unknown>;
  /** The command as the host wrote it (e.g. `setdigout 1?`): response matching and supersede use it. */
  command?: string;
  /** Any JSON object; returned untouched with every state change. */
  metadata?: CommandMetadata;
  /** Same key + same request returns the existing command; same key + another request is a conflict. */
  idempotencyKey?: string;
  /** Delivery attempts before the command fails; default 3. */
  maxAttempts?: number;
  /** How long one attempt waits for an answer before it is resent; default 30 s. */
  attemptTimeoutMs?: number;
  /** Time to live: past it an unanswered command expires; default 24 h. */
  ttlMs?: number;
  /** Older open commands of the device with the same command text become `superseded` (the seed's rule). */
  supersede?: boolean;
}

/** The request with every default applied: what is stored, and what an idempotency key is bound to. */
export interface NormalisedCreate {
  deviceId: DeviceId;
  name: string;
  args: Record<string, unknown>;
  command: string | null;
  metadata: Record<string, unknown>;
  maxAttempts: number;
  attemptTimeoutMs: number;
  ttlMs: number;
  supersede: boolean;
}

export const COMMAND_DEFAULTS = {
  maxAttempts: 3,
  attemptTimeoutMs: 30_000,
  ttlMs: 24 * 3_600_000,
} as const;

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_TTL_MS = 366 * 24 * 3_600_000;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function intIn(value: number | undefined, fallback: number, min: number, max: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    invalidInput(`${what} must be an integer from ${min} to ${max}`);
  return n;
}

/** Metadata travels in every state event, so it must fit the event's schema (CommandMetadata). */
function checkMetadata(metadata: unknown): void {
  if (!isPlainObject(metadata)) invalidInput('metadata must be an object');
  const keys = Object.keys(metadata);
  if (keys.length > 256 || keys.some((k) => k.length > 256)) {
    invalidInput('metadata may have at most 256 keys of at most 256 characters');
  }
  if (JSON.stringify(metadata).length > 256 * 1024) invalidInput('metadata must be at most 256 KiB as JSON');
}

export function normaliseCreate(input: CreateCommandInput): NormalisedCreate {
  if (!isSafeToken(input.tenant)) invalidInput('tenant is not a valid id');
  if (!isDeviceId(input.deviceId)) invalidInput('deviceId must be 1-64 of A-Z a-z 0-9 _ -');
  if (typeof input.name !== 'string' || !NAME.test(input.name)) {
    invalidInput('name must be 1-64 of A-Z a-z 0-9 _ . -');
  }
  if (input.args !== undefined && !isPlainObject(input.args)) invalidInput('args must be an object');
  if (input.metadata !== undefined) checkMetadata(input.metadata);
  if (input.command !== undefined && (typeof input.command !== 'string' || input.command.length > 4096)) {
    invalidInput('command must be a string of at most 4096 characters');
  }
  if (
    input.idempotencyKey !== undefined &&
    (typeof input.idempotencyKey !== 'string' ||
      input.idempotencyKey.length === 0 ||
      input.idempotencyKey.length > 255)
  ) {
    invalidInput('idempotency key must be 1-255 characters');
  }
  return {
    deviceId: input.deviceId,
    name: input.name,
    args: input.args ?? {},
    command: input.command ?? null,
    metadata: input.metadata ?? {},
    maxAttempts: intIn(input.maxAttempts, COMMAND_DEFAULTS.maxAttempts, 1, 100, 'maxAttempts'),
    attemptTimeoutMs: intIn(
      input.attemptTimeoutMs,
      COMMAND_DEFAULTS.attemptTimeoutMs,
      100,
      86_400_000,
      'attemptTimeoutMs',
    ),
    ttlMs: intIn(input.ttlMs, COMMAND_DEFAULTS.ttlMs, 100, MAX_TTL_MS, 'ttlMs'),
    supersede: input.supersede ?? false,
  };
}
