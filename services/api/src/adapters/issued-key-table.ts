import { hashSecret, newId, newSecret, type SecretKind, type Sql } from '@fleetwire/runtime';

export interface IssuedKeyInfo {
  id: string;
  name: string;
  createdAt: string;
}

/**
 * A table of bearer keys issued to a tenant (`api_keys`, `provisioning_keys`: tenant_id, id, name,
 * key_hash, created_at, revoked_at): created with the key shown once, listed without key material,
 * revoked. Only hashes are stored.
 */
export class IssuedKeyTable {
  protected readonly sql: Sql;
  protected readonly table: string;
  readonly #kind: SecretKind;
  readonly #idPrefix: string;

  constructor(sql: Sql, spec: { table: string; kind: SecretKind; idPrefix: string }) {
    this.sql = sql;
    this.table = spec.table;
    this.#kind = spec.kind;
    this.#idPrefix = spec.idPrefix;
  }

  /** Creates a key; the clear key is returned here and never again. */
  async create(tenant: string, name: string): Promise<IssuedKeyInfo & { key: string }> {
    const sql = this.sql;
    const key = newSecret(this.#kind);
    const id = newId(this.#idPrefix);
    const [row] = await sql`
      insert into ${sql(this.table)} (tenant_id, id, name, key_hash)
      values (${tenant}, ${id}, ${name}, ${hashSecret(key)})
      returning created_at`;
    return { id, name, key, createdAt: (row!.created_at as Date).toISOString() };
  }

  /** The tenant's keys that still work. */
  async list(tenant: string): Promise<IssuedKeyInfo[]> {
    const sql = this.sql;
    const rows = await sql`
      select id, name, created_at from ${sql(this.table)}
      where tenant_id = ${tenant} and revoked_at is null order by created_at, id`;
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: (r.created_at as Date).toISOString() }));
  }

  async revoke(tenant: string, id: string): Promise<boolean> {
    const sql = this.sql;
    const rows = await sql`
      update ${sql(this.table)} set revoked_at = now()
      where tenant_id = ${tenant} and id = ${id} and revoked_at is null returning id`;
    return rows.length > 0;
  }
}
