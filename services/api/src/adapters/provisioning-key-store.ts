import { SECRET_KIND, type Sql } from '@fleetwire/runtime';
import { IssuedKeyTable } from './issued-key-table.ts';

/** Table `provisioning_keys`: fleet keys that let unknown devices register themselves; hashes only. */
export class ProvisioningKeyStore extends IssuedKeyTable {
  constructor(sql: Sql) {
    super(sql, { table: 'provisioning_keys', kind: SECRET_KIND.PROVISIONING_KEY, idPrefix: 'pvk' });
  }
}
