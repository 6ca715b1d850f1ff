import { hashSecret, newId, newSecret, SECRET_KIND, type Sql } from '@fleetwire/runtime';

export interface ApiKeyPrincipal {
  tenant: string;
  keyId: string;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  createdAt: string;
}

const hashKey = hashSecret;
const newKey = () => newSecret(SECRET_KIND.API_KEY);

/** Table `api_keys`: several keys per tenant, only their hashes stored. */
export class ApiKeyStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async authenticate(key: string): Promise<ApiKeyPrincipal | undefined> {
    const sql = this.#sql;
    const [row] = await sql`
      select tenant_id, id from api_keys where key_hash = ${hashKey(key)} and revoked_at is null`;
    return row ? { tenant: row.tenant_id, keyId: row.id } : undefined;
  }

  /** Creates a key; the clear key is returned here and never again. */
  async create(tenant: string, name: string): Promise<ApiKeyInfo & { key: string }> {
    const sql = this.#sql;
    const key = newKey();
    const id = newId('key');
    const [row] = await sql`
      insert into api_keys (tenant_id, id, name, key_hash) values (${tenant}, ${id}, ${name}, ${hashKey(key)})
      returning created_at`;
    return { id, name, key, createdAt: (row!.created_at as Date).toISOString() };
  }

  /**
   * Makes a configured key (IOT_API_KEY, FW_API_DEV_KEY) valid for `tenant`: inserted if new, and
   * un-revoked if it was revoked, since the configuration says it must work.
   */
  async ensure(tenant: string, key: string, name: string): Promise<void> {
    const sql = this.#sql;
    const hash = hashKey(key);
    await sql`
      insert into api_keys (tenant_id, id, name, key_hash)
      values (${tenant}, ${`env_${hash.slice(0, 16)}`}, ${name}, ${hash})
      on conflict (key_hash) do update set revoked_at = null`;
  }

  async list(tenant: string): Promise<ApiKeyInfo[]> {
    const sql = this.#sql;
    const rows = await sql`
      select id, name, created_at from api_keys
      where tenant_id = ${tenant} and revoked_at is null order by created_at, id`;
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: (r.created_at as Date).toISOString() }));
  }

  async revoke(tenant: string, id: string): Promise<boolean> {
    const sql = this.#sql;
    const rows = await sql`
      update api_keys set revoked_at = now()
      where tenant_id = ${tenant} and id = ${id} and revoked_at is null returning id`;
    return rows.length > 0;
  }
}
