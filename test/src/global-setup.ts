import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNats, startPostgres } from '@fleetwire/devstack';
import type { TestProject } from 'vitest/node';
import { natsBinary } from './tools.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    postgresAdminUrl: string;
    infraDir: string;
  }
}

/**
 * Starts one real nats-server (JetStream on) and one PostgreSQL cluster for the whole run, on free
 * ports in a temporary folder. Test files isolate themselves with their own database and subject root.
 */
export default async function setup(project: TestProject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-test-'));
  const started = Date.now();
  const [nats, pg] = await Promise.all([
    startNats({ binary: natsBinary(), dir: path.join(dir, 'nats'), logFile: path.join(dir, 'nats.log') }),
    startPostgres({ dir: path.join(dir, 'pg'), logFile: path.join(dir, 'postgres.log'), ephemeral: true }),
  ]);
  process.stderr.write(
    `[testkit] nats-server ${nats.url}, PostgreSQL :${pg.port} in ${dir} (${Date.now() - started} ms)\n`,
  );
  project.provide('natsUrl', nats.url);
  project.provide('postgresAdminUrl', pg.urlFor('postgres'));
  project.provide('infraDir', dir);
  return async () => {
    await Promise.all([nats.stop(), pg.destroy()]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
