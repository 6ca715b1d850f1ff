import type { DeviceId, SessionId, TenantId } from '@fleetwire/protocol';
import { hashSecret, newId, newSecret, SECRET_KIND, type Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';
import type {
  IdentityStore,
  OpenedSession,
  ReportedIdentity,
  SessionInput,
  SessionRecord,
} from '../domain/sessions.ts';
import { TurnBatch } from './turn-batch.ts';

/**
 * Device credentials, provisioning keys and device sessions in PostgreSQL (migration 0008). Only
 * hashes of secrets are stored or compared; every time comparison uses the database clock, so all
 * edge instances agree on what has expired.
 */
export class PgIdentityStore implements IdentityStore {
  readonly #sql: Sql;
  /**
   * Session starts and upgrade checks of one event-loop turn share one statement each: under load
   * that is one query for hundreds of devices instead of one per device.
   */
  readonly #opens: TurnBatch<CredentialOpen, OpenedRow | undefined>;
  readonly #finds: TurnBatch<string, SessionRecord | undefined>;

  /** `batched` hears the size of each batched statement (a metric), by what it does. */
  constructor(sql: Sql, batched?: (statement: 'open_session' | 'find_session', size: number) => void) {
    this.#sql = sql;
    this.#opens = new TurnBatch((batch) => this.#openMany(batch), {
      flushed: (size) => batched?.('open_session', size),
    });
    this.#finds = new TurnBatch((hashes) => this.#findMany(hashes), {
      flushed: (size) => batched?.('find_session', size),
    });
  }

  async openSessionWithCredential(
    credential: string,
    input: SessionInput,
  ): Promise<OpenedSession | undefined> {
    const session = newSession();
    const row = await this.#opens.add({ credentialHash: hashSecret(credential), session, input });
    return row ? opened(session, row) : undefined;
  }

  /**
   * One statement for a batch: find the ws device each credential belongs to (only if it is the
   * device named), insert the sessions, record the identities they reported (rows whose identity
   * did not change are left alone), and read each tenant's heartbeat.
   */
  async #openMany(batch: CredentialOpen[]): Promise<Array<OpenedRow | undefined>> {
    const sql = this.#sql;
    const rows = await sql`
      with q as (
        select * from unnest(
          ${batch.map((b) => b.credentialHash)}::text[], ${batch.map((b) => b.input.deviceId)}::text[],
          ${batch.map((b) => b.session.id)}::text[], ${batch.map((b) => hashSecret(b.session.token))}::text[],
          ${batch.map((b) => (b.input.identity === undefined ? null : JSON.stringify(b.input.identity)))}::text[],
          ${batch.map((b) => String(b.input.ttlMs))}::text[]
        ) as q (credential_hash, device_id, session_id, token_hash, identity, ttl_ms)
      ),
      d as (
        select devices.tenant_id, q.* from q
        cross join lateral (
          select tenant_id from devices
          where credential_hash = q.credential_hash and id = q.device_id and kind = 'ws'
        ) as devices
      ),
      s as (
        insert into device_sessions (id, tenant_id, device_id, token_hash, expires_at, identity)
        select session_id, tenant_id, device_id, token_hash,
               now() + ttl_ms::float8 * interval '1 millisecond', coalesce(identity::jsonb, '{}')
        from d
        returning id, tenant_id, expires_at
      ),
      u as (
        update devices set identity = d.identity::jsonb, updated_at = now()
        from d where devices.tenant_id = d.tenant_id and devices.id = d.device_id
          and d.identity is not null and devices.identity is distinct from d.identity::jsonb
      )
      select s.id, s.tenant_id, s.expires_at, t.ws_heartbeat_ms from s join tenants t on t.id = s.tenant_id`;
    const byId = new Map(rows.map((row) => [row.id as string, row as OpenedRow]));
    return batch.map((b) => byId.get(b.session.id));
  }

  async deviceIdTaken(deviceId: DeviceId): Promise<boolean> {
    return (await this.#sql`select 1 from devices where id = ${deviceId} limit 1`).length > 0;
  }

  async provisioningKeyTenant(key: string): Promise<TenantId | undefined> {
    const [row] = await this.#sql`
      select tenant_id from provisioning_keys where key_hash = ${hashSecret(key)} and revoked_at is null`;
    return row?.tenant_id;
  }

  /** One statement, so a device never exists without the session that hands over its credential. */
  async registerAndOpenSession(
    tenant: TenantId,
    input: SessionInput,
  ): Promise<(OpenedSession & { credential: string }) | undefined> {
    const sql = this.#sql;
    const session = newSession();
    const credential = newSecret(SECRET_KIND.DEVICE_CREDENTIAL);
    const [row] = await sql`
      with d as (
        insert into devices (tenant_id, id, kind, credential_hash, credential_issued_at, identity)
        values (${tenant}, ${input.deviceId}, 'ws', ${hashSecret(credential)}, now(),
                ${identityJson(sql, input.identity)})
        on conflict (tenant_id, id) do nothing
        returning tenant_id, id
      ),
      s as (${insertSession(sql, session, input, sql`select tenant_id, id from d`)})
      select s.tenant_id, s.expires_at, t.ws_heartbeat_ms from s join tenants t on t.id = s.tenant_id`;
    return row ? { ...opened(session, row), credential } : undefined;
  }

  findSession(token: string): Promise<SessionRecord | undefined> {
    return this.#finds.add(hashSecret(token));
  }

  async #findMany(hashes: string[]): Promise<Array<SessionRecord | undefined>> {
    const rows = await this.#sql`
      select s.token_hash, s.id, s.tenant_id, s.device_id,
             s.revoked_at is not null as revoked,
             s.expires_at <= now() as expired,
             coalesce(d.id is null or d.credential_issued_at > s.created_at, false) as deprovisioned,
             t.ws_heartbeat_ms
      from device_sessions s
      join tenants t on t.id = s.tenant_id
      left join devices d on d.tenant_id = s.tenant_id and d.id = s.device_id
      where s.token_hash = any(${hashes}::text[])`;
    const byHash = new Map(rows.map((row) => [row.token_hash as string, row]));
    return hashes.map((hash) => {
      const row = byHash.get(hash);
      if (!row) return undefined;
      return {
        sessionId: row.id,
        tenant: row.tenant_id,
        deviceId: row.device_id,
        revoked: row.revoked,
        expired: row.expired,
        deprovisioned: row.deprovisioned,
        tenantHeartbeatMs: row.ws_heartbeat_ms,
      };
    });
  }

  /** Deletes sessions that expired more than `graceMs` ago; returns how many. */
  async removeExpiredSessions(graceMs: number): Promise<number> {
    const result = await this.#sql`
      delete from device_sessions where expires_at < now() - ${graceMs}::float8 * interval '1 millisecond'`;
    return result.count;
  }
}

interface CredentialOpen {
  credentialHash: string;
  session: NewSession;
  input: SessionInput;
}

/** What a session insert returns: its tenant, expiry, and the tenant's heartbeat. */
type OpenedRow = postgres.Row;

interface NewSession {
  id: SessionId;
  token: string;
}

function newSession(): NewSession {
  return { id: newId('ses') as SessionId, token: newSecret(SECRET_KIND.SESSION_TOKEN) };
}

/** `insert into device_sessions … <rows> returning …`, where `rows` yields (tenant_id, device_id). */
function insertSession(
  sql: Sql,
  session: NewSession,
  input: SessionInput,
  rows: postgres.PendingQuery<postgres.Row[]>,
) {
  return sql`
    insert into device_sessions (id, tenant_id, device_id, token_hash, expires_at, identity)
    select ${session.id}, r.tenant_id, r.device_id, ${hashSecret(session.token)},
           now() + ${input.ttlMs}::float8 * interval '1 millisecond', ${identityJson(sql, input.identity)}
    from (${rows}) as r (tenant_id, device_id)
    returning tenant_id, expires_at`;
}

function identityJson(sql: Sql, identity: ReportedIdentity | undefined) {
  return sql.json((identity ?? {}) as postgres.JSONValue);
}

function opened(session: NewSession, row: postgres.Row): OpenedSession {
  return {
    tenant: row.tenant_id,
    token: session.token,
    sessionId: session.id,
    expiresAt: row.expires_at,
    tenantHeartbeatMs: row.ws_heartbeat_ms,
  };
}
