import { CommandStateChange, decodeBusMessage, jetStreamTopology } from '@fleetwire/protocol';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  type TestEnv,
  TrackerClient,
  WebhookReceiver,
} from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../services/notifier/src/signature.ts';
import { type ApiClient, apiClient, type Stack, startStack } from './stack.ts';

const SEED_KEY = 'e2e-seed-key-two-dispatchers-0123';
const WEBHOOK_SECRET = 'e2e-notification-secret-two-0123';
const CONFIRM = '/webhooks/iot/v1/command/confirm';
const TRACKERS = Array.from({ length: 4 }, (_, i) => `35630704244200${i}`);
const COMMANDS_PER_TRACKER = 4;

describe('two command dispatchers at once, end to end', () => {
  let env: TestEnv;
  let stack: Stack;
  let nc: NatsConnection;
  let call: ApiClient;
  const seedHost = new WebhookReceiver();
  const trackers: TrackerClient[] = [];
  const completedEvents: CommandStateChange[] = [];

  beforeAll(async () => {
    env = await createTestEnv('e2e_dispatchers');
    await seedHost.listen();
    stack = await startStack(env, {
      dispatchers: 2,
      notifier: { NOTIFICATION_URL: seedHost.url(), FW_WEBHOOK_SECRET: WEBHOOK_SECRET },
      api: { IOT_API_KEY: SEED_KEY },
    });
    call = apiClient(stack.apiUrl, SEED_KEY);
    nc = await connectTestNats(env);
    const sub = nc.subscribe(jetStreamTopology({ root: env.subjectRoot }).subjects.cmdAll('completed'));
    void (async () => {
      for await (const m of sub) completedEvents.push(decodeBusMessage(m.data, CommandStateChange).payload);
    })();
    await nc.flush();
    for (const imei of TRACKERS) {
      expect((await call('POST', '/v1/devices', { body: { id: imei, kind: 'tracker' } })).status).toBe(201);
      const tracker = await TrackerClient.connect({ port: stack.trackerPort, imei });
      tracker.autoReply = (text) => `OK ${text}`;
      trackers.push(tracker);
      expect(await tracker.login()).toBe(true);
    }
  });

  afterAll(async () => {
    for (const t of trackers) await t.close().catch(() => {});
    await stack?.stop();
    await nc?.close();
    await seedHost.close();
  });

  it('completes each of N commands to M trackers exactly once: one completed event and one confirm webhook each', async () => {
    expect(stack.dispatchers).toHaveLength(2);
    const sent: Array<{ commandId: string; imei: string; text: string }> = [];
    // Interleaved across trackers, as a host would send them; distinct texts, so none supersedes another.
    for (let round = 0; round < COMMANDS_PER_TRACKER; round++) {
      for (const imei of TRACKERS) {
        const text = `custom job ${round} for ${imei.slice(-2)}`;
        const res = await call('POST', '/api/v1/command', {
          body: { imei, command: text, metadata: { round, imei } },
        });
        expect(res.status).toBe(200);
        sent.push({ commandId: res.body.commandId, imei, text });
      }
    }

    const confirmsOf = (id: string) => seedHost.to(CONFIRM).filter((r) => r.json.commandId === id);
    await eventually(
      () => sent.every((c) => confirmsOf(c.commandId).length > 0),
      30_000,
      'a confirm webhook for every command',
    );
    // Anything sent twice would surface within this window (duplicates are published right after the first).
    await new Promise((r) => setTimeout(r, 1_000));

    for (const c of sent) {
      const events = completedEvents.filter((e) => e.commandId === c.commandId);
      expect(events, c.commandId).toHaveLength(1);
      expect(events[0]).toMatchObject({
        deviceId: c.imei,
        command: c.text,
        response: `OK ${c.text}`,
        attempt: 1,
      });
      const confirms = confirmsOf(c.commandId);
      expect(confirms, c.commandId).toHaveLength(1);
      expect(confirms[0]!.json).toMatchObject({
        imei: c.imei,
        response: `OK ${c.text}`,
        metadata: { imei: c.imei },
      });
      const signature = confirms[0]!.headers['x-fleetwire-signature'] as string;
      expect(verifySignature(WEBHOOK_SECRET, signature, confirms[0]!.raw, 60).ok).toBe(true);
    }
    expect(completedEvents).toHaveLength(sent.length);
    // Each tracker got each of its commands once, in the order they were created.
    for (const [i, imei] of TRACKERS.entries()) {
      expect(trackers[i]!.commands.map((c) => c.text)).toEqual(
        sent.filter((c) => c.imei === imei).map((c) => c.text),
      );
    }
    const listed = await call('GET', '/v1/commands?state=completed&limit=100');
    expect(listed.body.items).toHaveLength(sent.length);
    // Both instances took part (the work is spread over the shared consumers).
    const sentBy = await Promise.all(
      stack.dispatchers.map(async (d) => {
        const metric = d.ctx.metrics.getSingleMetric('fleetwire_command_dispatches_total');
        const { values } = (await metric?.get()) ?? { values: [] };
        return values.filter((v) => v.labels.outcome === 'ack').reduce((sum, v) => sum + v.value, 0);
      }),
    );
    expect(sentBy.reduce((a, b) => a + b, 0)).toBe(sent.length);
  });
});
