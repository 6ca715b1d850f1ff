import path from 'node:path';
import { migrations } from '@fleetwire/schema';
import { connectTestNats, createTestEnv, REPO_ROOT, spawnService, testSql } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PROBE = path.join(REPO_ROOT, 'test/fixtures/probe-service.ts');

describe('service runtime lifecycle (real NATS and PostgreSQL)', () => {
  it('refuses to start on a missing required variable and names it', async () => {
    const env = await createTestEnv('cfg_missing');
    const { FW_DATABASE_URL: _omit, ...rest } = env.serviceEnv();
    const svc = spawnService(PROBE, rest);
    const { code } = await svc.exited;
    expect(code).toBe(78);
    expect(svc.output()).toContain('FW_DATABASE_URL is required: expected a URL (postgres://…');
  });

  it('refuses to start on malformed variables and names each', async () => {
    const env = await createTestEnv('cfg_bad');
    const svc = spawnService(
      PROBE,
      env.serviceEnv({ FW_HTTP_PORT: 'eighty', FW_NATS_URL: 'localhost:4222' }),
    );
    const { code } = await svc.exited;
    expect(code).toBe(78);
    expect(svc.output()).toContain(
      'FW_HTTP_PORT is invalid: expected an integer between 0 and 65535, got "eighty"',
    );
    expect(svc.output()).toContain('FW_NATS_URL is invalid');
  });

  describe('two instances started at the same moment on an empty database', () => {
    const instances: ReturnType<typeof spawnService>[] = [];
    let env: Awaited<ReturnType<typeof createTestEnv>>;

    beforeAll(async () => {
      env = await createTestEnv('twins');
      for (const id of ['a', 'b']) {
        instances.push(spawnService(PROBE, env.serviceEnv({ FW_INSTANCE_ID: id, FW_LOG_LEVEL: 'info' })));
      }
      await Promise.all(instances.map((s) => s.waitFor('probe started')));
    });

    afterAll(() => {
      for (const s of instances) s.kill('SIGKILL');
    });

    it('both come up and the migrations ran exactly once', async () => {
      const sql = testSql(env);
      try {
        const rows = await sql`select version from fw_schema_migrations order by version`;
        expect(rows.map((r) => r.version)).toEqual(migrations().map((m) => m.version));
        const tenants = await sql`select id from tenants`;
        expect(tenants.map((r) => r.id)).toEqual(['default']);
      } finally {
        await sql.end();
      }
      // One instance applied every migration; the other waited on the lock and found nothing to do.
      const applied = instances.map((s) => s.output().split('"migration applied"').length - 1);
      expect(applied.sort()).toEqual([0, migrations().length]);
    });

    it('both serve requests over NATS', async () => {
      const nc = await connectTestNats(env);
      try {
        const replies = new Set<string>();
        for (let i = 0; i < 40 && replies.size < 2; i++) {
          const inbox = nc.subscribe('_INBOX.probe.*', { max: 2 });
          const collected = (async () => {
            for await (const m of inbox) replies.add(m.string());
          })();
          nc.publish(`${env.subjectRoot}.probe`, '', { reply: `_INBOX.probe.${i}` });
          await Promise.race([collected, new Promise((r) => setTimeout(r, 200))]);
          inbox.unsubscribe();
        }
        expect(replies).toEqual(new Set(['hello from a', 'hello from b']));
      } finally {
        await nc.close();
      }
    });
  });

  it('serves /healthz, /readyz and /metrics, then shuts down gracefully on SIGTERM with exit 0', async () => {
    const env = await createTestEnv('ops');
    const svc = spawnService(PROBE, env.serviceEnv({ FW_LOG_LEVEL: 'info', PROBE_STOP_DELAY: '300ms' }));
    const started = await svc.waitFor('probe started');
    const opsPort = Number(/"opsPort":(\d+)/.exec(started)?.[1]);
    expect(opsPort).toBeGreaterThan(0);
    const health = await fetch(`http://127.0.0.1:${opsPort}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${opsPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { nats: 'ok', postgres: 'ok', service: 'ok' },
    });
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    expect(metrics).toMatch(/fleetwire_process_cpu_user_seconds_total\{service="probe"\}/);

    const t0 = Date.now();
    svc.kill('SIGTERM');
    const { code } = await svc.exited;
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300); // it waited for in-flight work
    expect(svc.output()).toContain('probe stopped');
  });

  it('reports not ready when PostgreSQL is unreachable at start and refuses to start', async () => {
    const env = await createTestEnv('nopg');
    const svc = spawnService(
      PROBE,
      env.serviceEnv({ FW_DATABASE_URL: 'postgres://fleetwire:fleetwire@127.0.0.1:1/none' }),
    );
    const { code } = await svc.exited;
    expect(code).toBe(1);
    expect(svc.output()).toMatch(/failed to start: .*ECONNREFUSED/s);
  });
});
