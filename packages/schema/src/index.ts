import { fileURLToPath } from 'node:url';
import { type Migration, readMigrations } from '@fleetwire/runtime';

/** The one folder of SQL migrations; every service that uses Postgres applies it at start-up. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export function migrations(): Migration[] {
  return readMigrations(MIGRATIONS_DIR);
}
