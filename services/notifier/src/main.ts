import {
  coalesceSocketWrites,
  JetStreamPublisher,
  provisioningFor,
  runEvery,
  runService,
  type ServiceDefinition,
  terminate,
  topologyOf,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { HeldRetries } from './adapters/held-retries.ts';
import { postWebhook } from './adapters/http-sender.ts';
import { PullWorker } from './adapters/pull-worker.ts';
import { WebhookStore } from './adapters/webhook-store.ts';
import { CircuitBreaker } from './circuit.ts';
import { checkNotifierConfig, notifierConfig } from './config.ts';
import { notifierConsumers } from './consumers.ts';
import { type DeliveryDeps, deliveryHandler, hostOf, PRIOR_ATTEMPTS_HEADER } from './delivery.ts';
import { type FanOutDeps, fanOutHandler, readCommandEvent, readTelemetryEvent } from './fan-out.ts';
import { FirstAttempts, firstAttemptLimits } from './first-attempt.ts';
import { notifierMetrics } from './metrics.ts';
import { SubscriberLookup } from './subscriber-lookup.ts';

/** Events fanned out at once: twice the direct attempts allowed (first-attempt.ts). */
const intakeConcurrency = (webhookConcurrency: number) => 2 * webhookConcurrency;
/** Consecutive failures after which a host's deliveries are postponed without a request. */
const CIRCUIT_FAILURES = 5;
/** Pause of an open circuit: five first-retry delays, at most 30 s, so probes follow the schedule's pace. */
const circuitOpenMs = (backoffMs: readonly number[]) => Math.min(30_000, 5 * (backoffMs[0] ?? 1_000));
/** How often held retries are looked at: their due times are whole seconds. */
const RELEASE_EVERY_MS = 1_000;
/**
 * Undelivered messages the delivery consumer may have before held retries wait: a recovered host's
 * backlog goes out at the pace the deliveries are worked off, not ahead of everyone else's.
 */
const releaseBacklog = (webhookConcurrency: number) => Math.max(1_000, 10 * webhookConcurrency);

/** A delivery whose first attempt failed: rare, so a plain js.publish carrying the header will do. */
function publishRetry(js: JetStreamClient, subject: string, data: Uint8Array, msgId: string, prior: number) {
  const h = headers();
  h.set(PRIOR_ATTEMPTS_HEADER, String(prior));
  return js.publish(subject, data, { msgID: msgId, headers: h });
}

export const notifier: ServiceDefinition<typeof notifierConfig> = {
  name: 'notifier',
  defaultHttpPort: 9414,
  config: notifierConfig,
  migrations,
  provisioning: (cfg) => {
    const topology = topologyOf(cfg);
    const consumers = notifierConsumers(topology, cfg);
    return provisioningFor(topology, {
      streams: ['COMMANDS', 'NOTIFY'],
      consumers: [consumers.commands, consumers.telemetry, consumers.deliveries],
    });
  },
  async start(ctx) {
    const { config, nats, log } = ctx;
    checkNotifierConfig(config);
    // Acks and deliveries finishing in one turn leave in one socket write instead of one each.
    coalesceSocketWrites(nats.nc);
    const topology = topologyOf(config);
    const specs = notifierConsumers(topology, config);
    const store = new WebhookStore(ctx.sql!);
    // One query for the subscribers of every event that arrives at once, not one per event.
    const subscribers = new SubscriberLookup((tenants) => store.subscriptionsOf(tenants));
    const metrics = notifierMetrics(ctx.metrics);
    const publisher = new JetStreamPublisher(nats.nc);
    const terminateMsg = (msg: JsMsg, reason: string) => terminate(msg, nats.features, reason, log);
    const consumerOf = (spec: { streamName: string; durableName: string }) =>
      nats.js.consumers.get(spec.streamName, spec.durableName);

    const circuit = new CircuitBreaker({
      failureThreshold: CIRCUIT_FAILURES,
      openMs: circuitOpenMs(config.backoffMs),
    });
    const heldRetries = new HeldRetries(nats.js, nats.jsm, {
      stream: specs.deliveries.streamName,
      deliveriesConsumer: specs.deliveries.durableName,
      subjects: topology.subjects,
      maxBacklog: releaseBacklog(config.concurrency),
      // A failing host is probed at the pace its circuit lets requests through.
      probeEveryMs: circuitOpenMs(config.backoffMs),
      mayRequest: (origin) => !circuit.isOpen(origin),
      log,
      onReleased: metrics.released,
    });
    const delivery: DeliveryDeps = {
      config,
      secretOf: (tenant, id) => store.secretOf(tenant, id),
      deadLetter: (d) => store.deadLetter(d),
      post: postWebhook,
      circuit,
      hold: async (msg, d, attemptsMade, dueAtSec) => {
        await heldRetries.hold(msg, d.tenant, hostOf(d.url), attemptsMade, dueAtSec);
        metrics.held();
      },
      onHostHealth: (origin, healthy) => heldRetries.hosts.observe(origin, healthy),
      terminate: terminateMsg,
      metrics: metrics.delivery,
      log,
    };
    const firstAttempts = new FirstAttempts(delivery, firstAttemptLimits(config.concurrency));
    const fanOut: FanOutDeps = {
      subjects: topology.subjects,
      config,
      subscribersOf: (tenant, type) => subscribers.subscribersOf(tenant, type),
      firstAttempt: (d, msgId) => firstAttempts.deliver(d, msgId),
      publish: (subject, data, { msgId, priorAttempts }) =>
        priorAttempts === 0
          ? publisher.publish(subject, data, { msgId })
          : publishRetry(nats.js, subject, data, msgId, priorAttempts),
      terminate: terminateMsg,
      onEvent: metrics.event,
      log,
    };
    const deliveries = new PullWorker(await consumerOf(specs.deliveries), {
      concurrency: config.concurrency,
      log,
      handle: deliveryHandler(delivery),
    });
    const commands = new PullWorker(await consumerOf(specs.commands), {
      concurrency: intakeConcurrency(config.concurrency),
      log,
      handle: fanOutHandler(fanOut, readCommandEvent),
    });
    const telemetry = new PullWorker(await consumerOf(specs.telemetry), {
      concurrency: intakeConcurrency(config.concurrency),
      log,
      handle: fanOutHandler(fanOut, readTelemetryEvent),
    });
    await Promise.all([deliveries.start(), commands.start(), telemetry.start()]);
    const releases = runEvery(
      RELEASE_EVERY_MS,
      () => heldRetries.releaseRound(),
      (err) => log.warn({ err }, 'held webhook retries not released this round; next round tries again'),
    );
    log.info(
      {
        notificationUrl: config.notificationUrl ?? null,
        telemetryWebhook: config.telemetryWebhookEnabled,
        attempts: config.backoffMs.length + 1,
      },
      'notifier consuming',
    );
    return {
      async stop() {
        await Promise.all([commands.stop(), telemetry.stop(), releases.stop()]);
        await publisher.close();
        await deliveries.stop();
      },
    };
  },
};

if (import.meta.main) await runService(notifier);
