import type { CommandId, CommandState, CommandStateChange, DeviceId, TenantId } from '@fleetwire/protocol';

/** A row of `commands` as postgres.js returns it. */
export interface CommandRow {
  tenant_id: string;
  id: string;
  device_id: string;
  name: string;
  args: Record<string, unknown>;
  command_text: string | null;
  metadata: Record<string, unknown>;
  state: CommandState;
  attempts: number;
  max_attempts: number;
  attempt_timeout_ms: number;
  expires_at: Date;
  idempotency_key: string | null;
  request_hash: string | null;
  response: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  finished_at: Date | null;
}

/** A command as the API returns it: JSON-ready, timestamps as ISO strings. */
export interface CommandView {
  id: CommandId;
  tenant: TenantId;
  deviceId: DeviceId;
  name: string;
  args: Record<string, unknown>;
  /** The command as the host wrote it (e.g. `setdigout 1?`), if it came as text. */
  command: string | null;
  metadata: Record<string, unknown>;
  state: CommandState;
  attempts: number;
  maxAttempts: number;
  attemptTimeoutMs: number;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
  finishedAt: string | null;
  response: string | null;
  error: string | null;
  idempotencyKey: string | null;
}

export interface TransitionView {
  seq: number;
  state: CommandState;
  attempt: number;
  at: string;
  detail: string | null;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function toView(row: CommandRow): CommandView {
  return {
    id: row.id as CommandId,
    tenant: row.tenant_id as TenantId,
    deviceId: row.device_id as DeviceId,
    name: row.name,
    args: row.args,
    command: row.command_text,
    metadata: row.metadata,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    attemptTimeoutMs: row.attempt_timeout_ms,
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    sentAt: iso(row.sent_at),
    finishedAt: iso(row.finished_at),
    response: row.response,
    error: row.error,
    idempotencyKey: row.idempotency_key,
  };
}

const MAX_ERROR = 4096;
const MAX_RESPONSE = 65536;

/** The bus event for a command that just reached `view.state`; metadata travels untouched. */
export function toStateChange(view: CommandView): CommandStateChange {
  const change: CommandStateChange = {
    tenant: view.tenant,
    deviceId: view.deviceId,
    commandId: view.id,
    state: view.state,
    at: Date.parse(view.updatedAt),
    name: view.name,
    metadata: view.metadata,
  };
  if (view.command !== null) change.command = view.command;
  if (view.attempts > 0) change.attempt = view.attempts;
  if (view.response !== null && view.state === 'completed')
    change.response = view.response.slice(0, MAX_RESPONSE);
  if (view.error !== null && view.state !== 'completed') change.error = view.error.slice(0, MAX_ERROR);
  return change;
}

/** JetStream dedup id of a state event: a retried publish of the same change is dropped by the stream. */
export function stateChangeMsgId(view: CommandView): string {
  return `${view.id}:${view.state}:${view.attempts}`;
}
