import { hashSecret, newId, newSecret, SECRET_KIND, type Sql } from '@fleetwire/runtime';

export interface ProvisioningKeyInfo {
  id: string;
  name: string;
  createdAt: string;
}

/** Table `provisioning_keys`: fleet keys that let unknown devices register themselves; hashes only. */
export class ProvisioningKeyStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Creates a key; the clear key is returned here and never again. */
  async create(tenant: string, name: string): Promise<ProvisioningKeyInfo & { key: string }> {
    const sql = this.#sql;
    const key = newSecret(SECRET_KIND.PROVISIONING_KEY);
    const id = newId('pvk');
    const [row] = await sql`
      insert into provisioning_keys (tenant_id, id, name, key_hash)
      values (${tenant}, ${id}, ${name}, ${hashSecret(key)})
      returning created_at`;
    return { id, name, key, createdAt: (row!.created_at as Date).toISOString() };
  }

  /** The tenant's keys that still work. */
  async list(tenant: string): Promise<ProvisioningKeyInfo[]> {
    const sql = this.#sql;
    const rows = await sql`
      select id, name, created_at from provisioning_keys
      where tenant_id = ${tenant} and revoked_at is null order by created_at, id`;
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: (r.created_at as Date).toISOString() }));
  }

  async revoke(tenant: string, id: string): Promise<boolean> {
    const sql = this.#sql;
    const rows = await sql`
      update provisioning_keys set revoked_at = now()
      where tenant_id = ${tenant} and id = ${id} and revoked_at is null returning id`;
    return rows.length > 0;
  }
}
