import { consumerSpec, encodeBusMessage, type JetStreamTopology, MSG_TYPE, PROTO } from '@fleetwire/protocol';
import {
  BatchConsumer,
  JetStreamPublisher,
  provisioningFor,
  runService,
  type ServiceDefinition,
  terminate,
  topologyOf,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { Counter, Histogram } from 'prom-client';
import { presenceBatchHandler } from './adapters/presence-recorder.ts';
import { TelemetryStore } from './adapters/telemetry-store.ts';
import { telemetryBatchHandler } from './adapters/telemetry-writer.ts';
import { telemetryConfig } from './config.ts';
import { LatestStateWriter } from './latest-state.ts';
import { TelemetryCoalescer } from './notifications.ts';
import { startPresenceReaper } from './presence-reaper-loop.ts';

const DAY = 86_400_000;

/** Every presence event, all tenants, into device_presence. */
function presenceRecorderSpec(topology: JetStreamTopology) {
  return consumerSpec(topology.streams, {
    durableName: 'presence-recorder',
    stream: 'PRESENCE',
    description: 'Records device presence in the database',
    filterSubjects: [topology.subjects.presenceAll()],
    ackWaitMs: 30_000,
    maxAckPending: 5_000,
  });
}

export const telemetry: ServiceDefinition<typeof telemetryConfig> = {
  name: 'telemetry',
  defaultHttpPort: 9412,
  config: telemetryConfig,
  migrations,
  provisioning: (cfg) => {
    const topology = topologyOf(cfg);
    return provisioningFor(topology, {
      streams: ['TELEMETRY', 'PRESENCE', 'NOTIFY'],
      consumers: [topology.consumers.telemetryWriter, presenceRecorderSpec(topology)],
      kv: ['presence', 'edges'],
    });
  },
  async start(ctx) {
    const { config, nats, log, metrics } = ctx;
    const topology = topologyOf(config);
    const store = new TelemetryStore(ctx.sql!);
    const maintain = async () => {
      const today = new Date();
      await store.ensurePartitions(new Date(today.getTime() - DAY), 9);
      const dropped = await store.dropBefore(new Date(today.getTime() - config.retentionDays * DAY));
      if (dropped > 0)
        log.info({ dropped, retentionDays: config.retentionDays }, 'old telemetry partitions dropped');
    };
    await maintain();
    const maintenance = setInterval(
      () => maintain().catch((err) => log.error({ err }, 'partition upkeep failed')),
      3_600_000,
    );

    const coalescer = config.notifyIntervalMs > 0 ? new TelemetryCoalescer() : undefined;
    const latest = new LatestStateWriter({ store, intervalMs: config.stateIntervalMs, log });
    const spec = topology.consumers.telemetryWriter;
    const consumer = new BatchConsumer(await nats.js.consumers.get(spec.streamName, spec.durableName), {
      maxBatch: config.batchMaxMessages,
      maxWaitMs: config.batchMaxWaitMs,
      concurrency: config.batchesInFlight,
      // A backlog longer than the ack wait would otherwise be redelivered and written twice.
      keepAliveMs: Math.max(100, Math.floor(spec.ackWaitMs / 3)),
      log,
      onHealthy: (healthy) => ctx.setReady(healthy),
      terminate: (msg, reason) => terminate(msg, nats.features, reason, log),
      handle: telemetryBatchHandler({
        store,
        coalescer,
        latest,
        log,
        metrics: {
          records: new Counter({
            name: 'fleetwire_telemetry_records_total',
            help: 'Telemetry records by result',
            labelNames: ['result'] as const,
            registers: [metrics],
          }),
          batchSeconds: new Histogram({
            name: 'fleetwire_telemetry_batch_seconds',
            help: 'Time to decode and store one batch',
            buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
            registers: [metrics],
          }),
          endToEndSeconds: new Histogram({
            name: 'fleetwire_telemetry_device_to_row_seconds',
            help: 'From the edge receiving a record to its row being committed',
            buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
            registers: [metrics],
          }),
        },
      }),
    });
    await consumer.start();

    const presenceSpec = presenceRecorderSpec(topology);
    const presence = new BatchConsumer(
      await nats.js.consumers.get(presenceSpec.streamName, presenceSpec.durableName),
      {
        maxBatch: 200,
        maxWaitMs: 20,
        log,
        terminate: (msg, reason) => terminate(msg, nats.features, reason, log),
        handle: presenceBatchHandler(ctx.sql!),
      },
    );
    await presence.start();

    const publisher = new JetStreamPublisher(nats.nc);
    const stopReaping = await startPresenceReaper({
      sql: ctx.sql!,
      nats,
      log,
      topology,
      publisher,
      edgeLeaseTtlMs: config.edgeLeaseTtlMs,
    });
    const flushNotifications = async () => {
      for (const summary of coalescer?.take() ?? []) {
        const subject = topology.subjects.notify(summary.tenant, 'telemetry');
        const bytes = encodeBusMessage(PROTO.TELEMETRY, MSG_TYPE.TELEMETRY.SUMMARY, summary);
        await publisher
          .publish(subject, bytes, {
            msgId: `${summary.tenant}:${summary.deviceId}:${summary.latestTimestamp}`,
          })
          .catch((err: Error) =>
            log.warn({ deviceId: summary.deviceId, err: err.message }, 'telemetry summary lost'),
          );
      }
    };
    const notifier = coalescer
      ? setInterval(() => void flushNotifications(), config.notifyIntervalMs)
      : undefined;
    return {
      async stop() {
        clearInterval(maintenance);
        clearInterval(notifier);
        await stopReaping();
        await consumer.stop();
        await latest.stop();
        await presence.stop();
        await flushNotifications();
        await publisher.close();
      },
    };
  },
};

if (import.meta.main) await runService(telemetry);
