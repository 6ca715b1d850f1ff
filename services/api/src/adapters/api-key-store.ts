import { hashSecret, SECRET_KIND, type Sql } from '@fleetwire/runtime';
import { IssuedKeyTable } from './issued-key-table.ts';

export interface ApiKeyPrincipal {
  tenant: string;
  keyId: string;
}

/** Table `api_keys`: several keys per tenant, only their hashes stored. */
export class ApiKeyStore extends IssuedKeyTable {
  constructor(sql: Sql) {
    super(sql, { table: 'api_keys', kind: SECRET_KIND.API_KEY, idPrefix: 'key' });
  }

  async authenticate(key: string): Promise<ApiKeyPrincipal | undefined> {
    const sql = this.sql;
    const [row] = await sql`
      select tenant_id, id from api_keys where key_hash = ${hashSecret(key)} and revoked_at is null`;
    return row ? { tenant: row.tenant_id, keyId: row.id } : undefined;
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
