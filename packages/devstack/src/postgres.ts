import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess } from './process.ts';

export interface PostgresOptions {
  /** Folder holding the cluster (created by initdb on first start). */
  dir: string;
  port?: number;
  user?: string;
  password?: string;
  /** Database created on first start besides `postgres`. */
  database?: string;
  logFile?: string;
  detached?: boolean;
  /** Trade durability for speed: only for throwaway test clusters. */
  ephemeral?: boolean;
  /** Extra server settings (`-c name=value`), e.g. pg_stat_statements for a benchmark. */
  settings?: Readonly<Record<string, string>>;
}

export interface RunningPostgres {
  /** Connection URL of `database`. */
  url: string;
  /** Builds the URL of another database in the same cluster. */
  urlFor(database: string): string;
  port: number;
  dataDir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
  /**
   * Stops the server and deletes the cluster, including one placed outside the requested folder
   * (see resolveDataDir), which deleting that folder alone would leave behind.
   */
  destroy(): Promise<void>;
}

export function findPgBindir(): string {
  const candidates = [
    process.env.FW_PG_BINDIR,
    '/usr/lib/postgresql/17/bin',
    '/usr/lib/postgresql/16/bin',
    '/usr/lib/postgresql/15/bin',
  ];
  for (const dir of candidates) {
    if (dir && fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb')))
      return dir;
  }
  throw new Error('PostgreSQL server binaries not found (run ./fleetwire setup, or set FW_PG_BINDIR)');
}

interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` system user. */
function runAsUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error("running as root needs a 'postgres' system user (./fleetwire setup creates it)");
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function canUse(dir: string, runAs: RunAs | undefined): boolean {
  if (!runAs) return true;
  return spawnSync('test', ['-w', dir, '-a', '-x', dir], { uid: runAs.uid, gid: runAs.gid }).status === 0;
}

/**
 * The data folder must be reachable by the postgres user. A project cloned under /root is not (nor
 * is a 0700 temp folder), so the cluster then lives in a new folder under /var/tmp with a symlink
 * from the requested one. New each time: a folder recreated at the same path (a fresh clone) gets a
 * fresh cluster, not the one its predecessor left.
 */
function resolveDataDir(requested: string, runAs: RunAs | undefined): string {
  if (fs.existsSync(requested)) return fs.realpathSync(requested);
  const parent = path.dirname(requested);
  fs.mkdirSync(parent, { recursive: true });
  if (canUse(parent, runAs)) return requested;
  const outside = fs.mkdtempSync(
    path.join(os.tmpdir() === '/tmp' ? '/var/tmp' : os.tmpdir(), 'fleetwire-pg-'),
  );
  fs.symlinkSync(outside, requested);
  return outside;
}

function run(bin: string, args: string[], runAs: RunAs | undefined): void {
  const res = spawnSync(bin, args, { uid: runAs?.uid, gid: runAs?.gid, encoding: 'utf8' });
  if (res.status !== 0)
    throw new Error(`${path.basename(bin)} failed: ${res.stderr || res.stdout || res.error}`);
}

export async function startPostgres(opts: PostgresOptions): Promise<RunningPostgres> {
  const bindir = findPgBindir();
  const runAs = runAsUser();
  const user = opts.user ?? 'fleetwire';
  const password = opts.password ?? 'fleetwire';
  const database = opts.database ?? 'fleetwire';
  const port = opts.port ?? (await freePort());
  const dataDir = resolveDataDir(opts.dir, runAs);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (runAs) fs.chownSync(dataDir, runAs.uid, runAs.gid);
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  if (fresh) initCluster(bindir, dataDir, user, password, runAs, opts.ephemeral ?? false);

  const settings = [
    ['listen_addresses', '127.0.0.1'],
    ['port', String(port)],
    ['unix_socket_directories', ''],
    ['max_connections', '400'],
    ['shared_buffers', '256MB'],
    ...(opts.ephemeral
      ? [
          ['fsync', 'off'],
          ['synchronous_commit', 'off'],
          ['full_page_writes', 'off'],
        ]
      : []),
    ...Object.entries(opts.settings ?? {}),
  ];
  const proc = startProcess({
    name: 'postgres',
    command: path.join(bindir, 'postgres'),
    args: ['-D', dataDir, ...settings.flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    logFile: opts.logFile,
    uid: runAs?.uid,
    gid: runAs?.gid,
    detached: opts.detached,
  });
  const urlFor = (db: string) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  await Promise.race([
    waitUntilAccepting(urlFor('postgres')),
    proc.exited.then((code) => {
      throw new Error(`postgres exited early (${code}); see ${opts.logFile ?? 'stderr'}`);
    }),
  ]);
  if (fresh || !(await databaseExists(urlFor('postgres'), database))) {
    await createDatabase(urlFor('postgres'), database);
  }
  return {
    url: urlFor(database),
    urlFor,
    port,
    dataDir,
    process: proc,
    stop: () => proc.stop('SIGINT', 15_000), // SIGINT = PostgreSQL's "fast" shutdown
    async destroy() {
      await proc.stop('SIGINT', 15_000);
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(opts.dir, { recursive: true, force: true });
    },
  };
}

function initCluster(
  bindir: string,
  dataDir: string,
  user: string,
  password: string,
  runAs: RunAs | undefined,
  ephemeral: boolean,
): void {
  const pwfile = path.join(os.tmpdir(), `fw-pw-${process.pid}-${Date.now()}`);
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) fs.chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    run(
      path.join(bindir, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        user,
        `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=peer',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
        '--no-instructions',
        ...(ephemeral ? ['--no-sync'] : []),
      ],
      runAs,
    );
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

async function waitUntilAccepting(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`PostgreSQL not accepting connections: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}

async function databaseExists(adminUrl: string, database: string): Promise<boolean> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${database}`;
    return rows.length > 0;
  } finally {
    await sql.end();
  }
}

export async function createDatabase(adminUrl: string, database: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`create database ${sql(database)}`;
  } finally {
    await sql.end();
  }
}
