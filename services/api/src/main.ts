import { DeviceLogStore } from '@fleetwire/device-logs';
import { CommandLedger, queuedCommandsConsumer } from '@fleetwire/ledger';
import {
  DEFAULT_TENANT,
  encodeBusMessage,
  MSG_TYPE,
  PROTO,
  parseTenantId,
  type Subjects,
  type WebhookDelivery,
} from '@fleetwire/protocol';
import {
  coalesceSocketWrites,
  JetStreamPublisher,
  type Logger,
  provisioningFor,
  runEvery,
  runService,
  type ServiceDefinition,
  type Sql,
  topologyOf,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import type { FastifyInstance } from 'fastify';
import { ApiKeyStore } from './adapters/api-key-store.ts';
import { DeviceChannel } from './adapters/device-channel.ts';
import { HeldRetriesView } from './adapters/held-retries-view.ts';
import type { DeadLetter } from './adapters/webhook-store.ts';
import { buildApp } from './app.ts';
import { apiConfig } from './config.ts';

/** IOT_API_KEY and FW_API_DEV_KEY become keys of the default tenant; only their hashes are stored. */
async function ensureConfiguredKeys(sql: Sql, keys: Record<string, string | undefined>, log: Logger) {
  const store = new ApiKeyStore(sql);
  for (const [variable, key] of Object.entries(keys)) {
    if (!key) continue;
    await store.ensure(DEFAULT_TENANT, key, variable);
    log.info({ tenant: DEFAULT_TENANT, variable }, 'configured API key ensured');
  }
}

/** A dead letter back on `notify.delivery`, as a new WebhookDelivery for the notifier. */
function requeueDeadLetter(publisher: JetStreamPublisher, subjects: Subjects) {
  return async (tenant: string, d: DeadLetter): Promise<void> => {
    const delivery: WebhookDelivery = {
      tenant: parseTenantId(tenant),
      eventId: d.eventId,
      eventType: d.eventType,
      url: d.targetUrl,
      payload: d.payload,
      createdAt: Date.now(),
      ...(d.subscriptionId ? { subscriptionId: d.subscriptionId } : {}),
    };
    const bytes = encodeBusMessage(PROTO.EVENT, MSG_TYPE.EVENT.WEBHOOK, delivery);
    // The stream drops a second publish of the same replay within its duplicate window. A dead
    // letter that died again after a replay has a new deadAt, so its next replay is a new message.
    await publisher.publish(subjects.notify(delivery.tenant, 'delivery'), bytes, {
      msgId: `replay:${tenant}:${d.id}:${d.deadAt}`,
    });
  };
}

export interface ApiInstance {
  port: number;
  /** The fastify app, for `inject` in tests. */
  app: FastifyInstance;
  stop(): Promise<void>;
}

export const api: ServiceDefinition<typeof apiConfig, ApiInstance> = {
  name: 'api',
  defaultHttpPort: 9415,
  config: apiConfig,
  migrations,
  provisioning: (cfg) =>
    provisioningFor(topologyOf(cfg), {
      streams: ['COMMANDS', 'DISPATCH', 'NOTIFY'],
      // The dispatcher learns of the commands created here through it: it must exist before the first.
      consumers: [queuedCommandsConsumer(topologyOf(cfg))],
      objectStores: ['deviceLogs'],
    }),
  async start(ctx) {
    const { config, nats, log } = ctx;
    const sql = ctx.sql!;
    const { subjects, streams, objectStores } = topologyOf(config);
    // Each request's publishes, acks and replies would otherwise be a socket write of their own; a
    // batch of creates publishes its events in one turn, so they share one write.
    coalesceSocketWrites(nats.nc);
    const publisher = new JetStreamPublisher(nats.nc);
    await ensureConfiguredKeys(
      sql,
      { IOT_API_KEY: config.seedApiKey, FW_API_DEV_KEY: config.devApiKey },
      log,
    );
    const ledger = new CommandLedger({ sql, publisher, subjects, log });
    const deviceLogs = await DeviceLogStore.open({
      sql,
      js: nats.js,
      bucket: objectStores.deviceLogs.bucket,
      retentionMs: objectStores.deviceLogs.ttlMs,
      log,
    });
    const heldRetries = new HeldRetriesView(nats.jsm, streams.NOTIFY.name, subjects);
    const stopPruning = pruneDeviceLogs(deviceLogs, config.deviceLogPruneEveryMs, log);
    const app = await buildApp({
      sql,
      log,
      ledger,
      deviceLogs,
      channel: new DeviceChannel(nats.nc, subjects),
      maxPageSize: config.maxPageSize,
      requeueDeadLetter: requeueDeadLetter(publisher, subjects),
      heldRetries: (tenant) => heldRetries.byHost(parseTenantId(tenant)),
    });
    await app.listen({ port: config.apiPort, host: config.apiHost });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.apiPort;
    log.info({ port }, 'REST API listening');
    return {
      port,
      app: app as unknown as FastifyInstance,
      async stop() {
        await stopPruning();
        await app.close();
        // Marks of events published in the last few milliseconds; without them the relay republishes.
        await ledger.flushMarks();
        await publisher.close();
      },
    };
  },
};

/**
 * Deletes the rows of expired device logs every `everyMs` (their bytes expire with the bucket's TTL).
 * Every api instance runs it; the deletes skip rows another instance holds. Returns a stop function
 * that waits for a round in progress.
 */
function pruneDeviceLogs(store: DeviceLogStore, everyMs: number, log: Logger): () => Promise<void> {
  const task = runEvery(
    everyMs,
    async () => {
      const pruned = await store.pruneExpired();
      if (pruned > 0) log.info({ pruned }, 'expired device log rows deleted');
    },
    (err) => log.warn({ err }, 'expired device log rows not deleted; next round retries'),
  );
  return () => task.stop();
}

if (import.meta.main) await runService(api);
