import crypto from 'node:crypto';
import { createDatabase } from '@fleetwire/devstack';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import postgres from 'postgres';
import { inject } from 'vitest';

export interface TestEnv {
  natsUrl: string;
  databaseUrl: string;
  database: string;
  /** Subject root unique to this test environment, so parallel files never see each other's messages. */
  subjectRoot: string;
  /** FW_* variables a service needs to run against this environment. */
  serviceEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
}

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh, empty database and subject root on the run's shared nats-server and PostgreSQL. */
export async function createTestEnv(label = 'test'): Promise<TestEnv> {
  const suffix = crypto.randomBytes(4).toString('hex');
  const database = `fw_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${suffix}`;
  const adminUrl = inject('postgresAdminUrl');
  await createDatabase(adminUrl, database);
  const natsUrl = inject('natsUrl');
  const subjectRoot = `t${suffix}`;
  const dbUrl = databaseUrl(adminUrl, database);
  return {
    natsUrl,
    databaseUrl: dbUrl,
    database,
    subjectRoot,
    serviceEnv: (extra = {}) => ({
      PATH: process.env.PATH,
      FW_NATS_URL: natsUrl,
      FW_DATABASE_URL: dbUrl,
      FW_SUBJECT_ROOT: subjectRoot,
      FW_HTTP_PORT: '0',
      FW_LOG_LEVEL: process.env.FW_TEST_LOG_LEVEL ?? 'silent',
      ...extra,
    }),
  };
}

export async function connectTestNats(env: TestEnv): Promise<NatsConnection> {
  return connect({ servers: env.natsUrl, name: 'test' });
}

export function testSql(env: TestEnv): postgres.Sql {
  return postgres(env.databaseUrl, { max: 4, onnotice: () => {} });
}
