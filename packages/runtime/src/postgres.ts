import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import type { Logger } from './logger.ts';

export type Sql = postgres.Sql;

export function connectPostgres(url: string, opts: { max?: number; appName: string }): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    connection: { application_name: opts.appName },
    onnotice: () => {},
    // bigint columns come back as JS numbers only where they are safe; we keep them as strings otherwise.
    types: { bigint: postgres.BigInt },
  });
}

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

/** Reads `NNNN_name.sql` files in version order. */
export function readMigrations(dir: string): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = fs.readFileSync(path.join(dir, file), 'utf8');
      const [version, ...rest] = file.replace(/\.sql$/, '').split('_');
      return {
        version: version!,
        name: rest.join('_'),
        sql,
        checksum: crypto.createHash('sha256').update(sql).digest('hex'),
      };
    });
}

export class MigrationError extends Error {
  constructor(message: string, opts?: ErrorOptions) {
    super(message, opts);
    this.name = 'MigrationError';
  }
}

// Arbitrary but fixed: every fleetwire instance serialises its migrations on this advisory lock.
const MIGRATION_LOCK_KEY = 0x666c_7477; // "fltw"

/**
 * Applies pending migrations, each in its own transaction, under a session advisory lock so that
 * instances starting together run them once: the others wait, then find nothing left to do.
 * Returns the versions this call applied.
 */
export async function migrate(sql: Sql, migrations: readonly Migration[], log: Logger): Promise<string[]> {
  const conn = await sql.reserve();
  try {
    await conn`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await conn`
      create table if not exists fw_schema_migrations (
        version text primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
    const applied = new Map(
      (
        await conn<
          { version: string; checksum: string }[]
        >`select version, checksum from fw_schema_migrations`
      ).map((r) => [r.version, r.checksum]),
    );
    const done: string[] = [];
    for (const m of migrations) {
      const previous = applied.get(m.version);
      if (previous !== undefined) {
        if (previous !== m.checksum) {
          throw new MigrationError(`migration ${m.version}_${m.name} was changed after it was applied`);
        }
        continue;
      }
      await conn.unsafe('begin');
      try {
        await conn.unsafe(m.sql);
        await conn`insert into fw_schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
        await conn.unsafe('commit');
      } catch (err) {
        await conn.unsafe('rollback');
        throw new MigrationError(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      log.info({ migration: `${m.version}_${m.name}` }, 'migration applied');
      done.push(m.version);
    }
    return done;
  } finally {
    await conn`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {});
    conn.release();
  }
}
