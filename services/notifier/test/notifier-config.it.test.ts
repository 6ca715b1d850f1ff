import {
  encodeBusMessage,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  type TelemetrySummary,
  type TenantId,
} from '@fleetwire/protocol';
import { ConfigError, EXIT_CONFIG, type RunningService, type Sql, startService } from '@fleetwire/runtime';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  spawnService,
  type TestEnv,
  testSql,
  WebhookReceiver,
} from '@fleetwire/testkit';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifier } from '../src/main.ts';

const ENTRY = new URL('../src/main.ts', import.meta.url).pathname;

describe('notifier configuration', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let service: RunningService<typeof notifier.config> | undefined;
  const host = new WebhookReceiver();

  beforeAll(async () => {
    env = await createTestEnv('notifier_cfg');
    await host.listen();
    sql = testSql(env);
    nc = await connectTestNats(env);
  });

  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await sql?.end();
    await host.close();
  });

  it('does not call NOTIFICATION_URL for telemetry unless TELEMETRY_WEBHOOK_ENABLED', async () => {
    service = await startService(
      notifier,
      env.serviceEnv({ NOTIFICATION_URL: host.url(), FW_WEBHOOK_SECRET: 'shh' }),
    );
    await sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events)
              values ('default', 'telemetry-only', ${host.url('/sub/telemetry')}, 'sub-secret', '{telemetry}')`;
    const summary: TelemetrySummary = {
      tenant: 'default' as TenantId,
      deviceId: '356307042441013' as TelemetrySummary['deviceId'],
      recordCount: 2,
      latestTimestamp: Date.now(),
      latestAttributes: { ignition: true },
    };
    const subject = jetStreamTopology({ root: env.subjectRoot }).subjects.notify(summary.tenant, 'telemetry');
    await jetstream(nc).publish(
      subject,
      encodeBusMessage(PROTO.TELEMETRY, MSG_TYPE.TELEMETRY.SUMMARY, summary),
    );
    // The subscription hearing it proves the event was fanned out (all targets are published together).
    const sub = await eventually(() => host.to('/sub/telemetry')[0]);
    expect(sub.json).toMatchObject({ type: 'telemetry', data: { imei: summary.deviceId, latestGps: null } });
    await new Promise((r) => setTimeout(r, 400));
    expect(host.requests.filter((r) => r.path.includes('/webhooks/iot/v1/telemetry'))).toHaveLength(0);
  });

  it('refuses to start with NOTIFICATION_URL but no FW_WEBHOOK_SECRET, naming the variable', async () => {
    const start = startService(notifier, env.serviceEnv({ NOTIFICATION_URL: host.url(), FW_HTTP_PORT: '0' }));
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow(/FW_WEBHOOK_SECRET/);

    const child = spawnService(ENTRY, env.serviceEnv({ NOTIFICATION_URL: host.url() }));
    const { code } = await child.exited;
    expect(code).toBe(EXIT_CONFIG);
    expect(child.output()).toMatch(/FW_WEBHOOK_SECRET is required when NOTIFICATION_URL is set/);
  });

  it('rejects a malformed backoff schedule naming FW_WEBHOOK_BACKOFF', async () => {
    await expect(startService(notifier, env.serviceEnv({ FW_WEBHOOK_BACKOFF: '1s,soon' }))).rejects.toThrow(
      /FW_WEBHOOK_BACKOFF is invalid/,
    );
  });
});
