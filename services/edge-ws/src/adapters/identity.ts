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

/**
 * Device credentials, provisioning keys and device sessions in PostgreSQL (migration 0008). Only
 * hashes of secrets are stored or compared; every time comparison uses the database clock, so all
 * edge instances agree on what has expired.
 */
export class PgIdentityStore implements IdentityStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /**
   * One statement: find the ws device the credential belongs to (only if it is `deviceId`), insert
   * the session, record the identity it reported, and read the tenant's heartbeat.
   */
  async openSessionWithCredential(
    credential: string,
    input: SessionInput,
  ): Promise<OpenedSession | undefined> {
    const sql = this.#sql;
    const session = newSession();
    const [row] = await sql`
      with d as (
        select tenant_id, id from devices
        where credential_hash = ${hashSecret(credential)} and id = ${input.deviceId} and kind = 'ws'
      ),
      s as (${insertSession(sql, session, input, sql`select tenant_id, id from d`)}),
      u as (
        update devices set identity = ${identityJson(sql, input.identity)}, updated_at = now()
        from d where devices.tenant_id = d.tenant_id and devices.id = d.id
          and ${input.identity !== undefined}::boolean
      )
      select s.tenant_id, s.expires_at, t.ws_heartbeat_ms from s join tenants t on t.id = s.tenant_id`;
    return row ? opened(session, row) : undefined;
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

  async findSession(token: string): Promise<SessionRecord | undefined> {
    const [row] = await this.#sql`
      select s.id, s.tenant_id, s.device_id,
             s.revoked_at is not null as revoked,
             s.expires_at <= now() as expired,
             coalesce(d.id is null or d.credential_issued_at > s.created_at, false) as deprovisioned,
             t.ws_heartbeat_ms
      from device_sessions s
      join tenants t on t.id = s.tenant_id
      left join devices d on d.tenant_id = s.tenant_id and d.id = s.device_id
      where s.token_hash = ${hashSecret(token)}`;
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
  }

  /** Deletes sessions that expired more than `graceMs` ago; returns how many. */
  async removeExpiredSessions(graceMs: number): Promise<number> {
    const result = await this.#sql`
      delete from device_sessions where expires_at < now() - ${graceMs}::float8 * interval '1 millisecond'`;
    return result.count;
  }
}

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
