import { createHash } from 'node:crypto';
import { type RunningService, startService } from '@fleetwire/runtime';
import { createTestEnv, type TestEnv, testSql } from '@fleetwire/testkit';
import type { LightMyRequestResponse } from 'fastify';
import type postgres from 'postgres';
import { type ApiInstance, api } from '../src/main.ts';

export const SEED_KEY = 'seed-key-0123456789abcdef0123456789';

export interface ApiHarness {
  env: TestEnv;
  svc: RunningService<typeof api.config, ApiInstance>;
  sql: postgres.Sql;
  call(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    opts?: { key?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** The API service in-process on a fresh database, with IOT_API_KEY as the default tenant's key. */
export async function startApi(label: string, extraEnv: Record<string, string> = {}): Promise<ApiHarness> {
  const env = await createTestEnv(label);
  const svc = await startService(api, env.serviceEnv({ API_PORT: '0', IOT_API_KEY: SEED_KEY, ...extraEnv }));
  const sql = testSql(env);
  return {
    env,
    svc,
    sql,
    call: (method, url, opts = {}) => {
      const key = opts.key === undefined ? SEED_KEY : opts.key;
      return svc.instance.app.inject({
        method,
        url,
        headers: { ...(key === null ? {} : { 'x-api-key': key }), ...opts.headers },
        ...(opts.body === undefined ? {} : { payload: opts.body as object }),
      });
    },
    close: async () => {
      await svc.stop();
      await sql.end();
    },
  };
}

/** A second tenant with its own key, inserted directly (no API creates tenants). */
export async function addTenant(sql: postgres.Sql, tenant: string, key: string): Promise<void> {
  await sql`insert into tenants (id, name) values (${tenant}, ${tenant})`;
  const hash = createHash('sha256').update(key).digest('hex');
  await sql`insert into api_keys (tenant_id, id, name, key_hash) values (${tenant}, ${`k-${tenant}`}, 'test', ${hash})`;
}
