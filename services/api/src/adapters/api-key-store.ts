import { hashSecret, SECRET_KIND, type Sql } from '@fleetwire/runtime';
import { IssuedKeyTable } from './issued-key-table.ts';

export interface ApiKeyPrincipal {
  tenant: string;
  keyId: string;
}

/** Channel migration 0011's trigger notifies on every change to an `api_keys` row. */
export const API_KEYS_CHANGED_CHANNEL = 'fw_api_keys_changed';
/**
 * How long a successful lookup is reused: the bound on how long a revoked key keeps working on an
 * instance that missed the change notification (its LISTEN connection was down). With the
 * notification, revocation takes effect on every instance within a round trip to PostgreSQL.
 */
export const API_KEY_CACHE_TTL_MS = 5_000;
/** Distinct valid keys remembered at most; beyond it the cache starts over (a cheap, safe bound). */
const CACHE_MAX_KEYS = 10_000;

interface CachedKey {
  principal: ApiKeyPrincipal;
  expiresAt: number;
}

/**
 * Table `api_keys`: several keys per tenant, only their hashes stored. Successful lookups are cached
 * for API_KEY_CACHE_TTL_MS (every request would otherwise cost a query); unknown and revoked keys are
 * never cached, so a key works as soon as it is created.
 */
export class ApiKeyStore extends IssuedKeyTable {
  readonly #cache = new Map<string, CachedKey>();
  readonly #ttlMs: number;

  constructor(sql: Sql, opts: { cacheTtlMs?: number } = {}) {
    super(sql, { table: 'api_keys', kind: SECRET_KIND.API_KEY, idPrefix: 'key' });
    this.#ttlMs = opts.cacheTtlMs ?? API_KEY_CACHE_TTL_MS;
  }

  async authenticate(key: string): Promise<ApiKeyPrincipal | undefined> {
    const hash = hashSecret(key);
    const now = Date.now();
    const hit = this.#cache.get(hash);
    if (hit && hit.expiresAt > now) return hit.principal;
    const sql = this.sql;
    const [row] = await sql`
      select tenant_id, id from api_keys where key_hash = ${hash} and revoked_at is null`;
    if (!row) {
      this.#cache.delete(hash);
      return undefined;
    }
    const principal = { tenant: row.tenant_id as string, keyId: row.id as string };
    if (this.#cache.size >= CACHE_MAX_KEYS) this.#cache.clear();
    this.#cache.set(hash, { principal, expiresAt: now + this.#ttlMs });
    return principal;
  }

  /** Revokes the key and forgets cached lookups here at once (other instances hear the trigger). */
  override async revoke(tenant: string, id: string): Promise<boolean> {
    const revoked = await super.revoke(tenant, id);
    this.forgetCached();
    return revoked;
  }

  forgetCached(): void {
    this.#cache.clear();
  }

  /**
   * Drops the cache whenever any key row changes, on whichever instance or tool changed it, and
   * after every (re)connection of the LISTEN connection, since changes may have been missed.
   * Returns the function that stops listening.
   */
  async watchChanges(): Promise<() => Promise<void>> {
    const listening = await this.sql.listen(
      API_KEYS_CHANGED_CHANNEL,
      () => this.forgetCached(),
      () => this.forgetCached(),
    );
    return () => listening.unlisten();
  }

  /**
   * Makes a configured key (IOT_API_KEY, FW_API_DEV_KEY) valid for `tenant`: inserted if new, and
   * un-revoked if it was revoked, since the configuration says it must work.
   */
  async ensure(tenant: string, key: string, name: string): Promise<void> {
    const sql = this.sql;
    const hash = hashSecret(key);
    await sql`
      insert into api_keys (tenant_id, id, name, key_hash)
      values (${tenant}, ${`env_${hash.slice(0, 16)}`}, ${name}, ${hash})
      on conflict (key_hash) do update set revoked_at = null`;
  }
}
