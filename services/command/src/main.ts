import { CommandLedger } from '@fleetwire/ledger';
import type { Subjects } from '@fleetwire/protocol';
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
import type { JsMsg } from '@nats-io/jetstream';
import { BatchWorkLoop } from './adapters/batch-loop.ts';
import { settleByReply, subscribeCommandEndings } from './adapters/command-endings.ts';
import { Downlink } from './adapters/downlink.ts';
import { WorkLoop } from './adapters/work-loop.ts';
import { AttemptTimers } from './attempt-timers.ts';
import { commandConfig } from './config.ts';
import { commandConsumers } from './consumers.ts';
import { Dispatcher, workItemReader } from './dispatcher.ts';
import { FreshStatistics } from './fresh-statistics.ts';
import { commandMetrics } from './metrics.ts';
import { OutboxRelay } from './outbox-relay.ts';
import { PresenceHandler } from './presence.ts';
import { ReplyHandler } from './replies.ts';
import { Sweeper } from './sweeper.ts';

export interface CommandInstance {
  ledger: CommandLedger;
  sweeper: Sweeper;
  relay: OutboxRelay;
  stop(): Promise<void>;
}

/** Work items of one device are handled in order; different devices in parallel. */
function deviceKey(subjects: Subjects) {
  return (msg: JsMsg): string => {
    try {
      const parsed = subjects.parse(msg.subject);
      return 'deviceId' in parsed ? `${parsed.tenant}/${parsed.deviceId}` : msg.subject;
    } catch {
      return msg.subject;
    }
  };
}

export const command: ServiceDefinition<typeof commandConfig, CommandInstance> = {
  name: 'command',
  defaultHttpPort: 9413,
  config: commandConfig,
  migrations,
  provisioning: (cfg) => {
    const topology = topologyOf(cfg);
    const consumers = commandConsumers(topology);
    return provisioningFor(topology, {
      streams: ['DEVICE_EVENTS', 'PRESENCE', 'COMMANDS', 'DISPATCH'],
      consumers: [consumers.dispatch, consumers.queued, consumers.presence, consumers.replies],
    });
  },
  async start(ctx) {
    const { config, nats, log } = ctx;
    const topology = topologyOf(config);
    const consumers = commandConsumers(topology);
    const metrics = commandMetrics(ctx.metrics);
    // Acks, edge requests and a batch's state events of one turn leave in one socket write.
    coalesceSocketWrites(nats.nc);
    const publisher = new JetStreamPublisher(nats.nc);
    const ledger = new CommandLedger({
      sql: ctx.sql!,
      publisher,
      subjects: topology.subjects,
      log,
      onChange: (c) => metrics.transitions.inc({ state: c.state }),
    });
    const poison = (msg: JsMsg, reason: string) => terminate(msg, nats.features, reason, log);
    const downlink = new Downlink(nats.nc, topology.subjects, config.dispatchTimeoutMs);
    const attemptTimers = new AttemptTimers({ settle: settleByReply(nats.nc) });
    const pruning = runEvery(
      1_000,
      async () => attemptTimers.prune(),
      (err) => log.warn({ err }, 'could not prune the parked work items'),
    );
    const endings = subscribeCommandEndings(
      nats.nc,
      topology.subjects,
      (commandId) => attemptTimers.ended(commandId),
      log,
    );
    const dispatcher = new Dispatcher({
      ledger,
      downlink,
      metrics,
      log,
      busyRetryMs: config.busyRetryMs,
      attemptTimers,
      terminate: poison,
    });
    const replies = new ReplyHandler({
      ledger,
      metrics,
      log,
      validate: config.validateResponse,
      terminate: poison,
    });
    const presence = new PresenceHandler({ ledger, log, terminate: poison });
    const workItem = workItemReader(topology.subjects);

    const consumerOf = (spec: { streamName: string; durableName: string }) =>
      nats.js.consumers.get(spec.streamName, spec.durableName);
    const common = { keyOf: deviceKey(topology.subjects), retryDelayMs: config.busyRetryMs, log };
    // Replies and dispatch items are the hot paths: handled in batches, one device's items in order.
    const batchLoop = async (
      specs: Array<{ streamName: string; durableName: string }>,
      handle: (batch: JsMsg[]) => Promise<void>,
    ) => {
      const work = new BatchWorkLoop(await Promise.all(specs.map(consumerOf)), {
        ...common,
        concurrency: config.concurrency,
        maxBatch: config.batch,
        lingerMs: config.batchLingerMs,
        handle,
      });
      await work.start();
      return work;
    };
    const presenceLoop = new WorkLoop(await consumerOf(consumers.presence), {
      ...common,
      concurrency: config.concurrency,
      handle: (m) => presence.handle(m),
    });
    await presenceLoop.start();
    const loops = [
      await batchLoop([consumers.replies], (batch) => replies.handleBatch(batch)),
      // Dispatch items and new commands' queued events share one loop: one device, one batch at a time.
      await batchLoop([consumers.dispatch, consumers.queued], (batch) =>
        dispatcher.handleBatch(batch, workItem),
      ),
      presenceLoop,
    ];
    const statistics = new FreshStatistics({ sql: ctx.sql!, log });
    statistics.start();
    const sweeper = new Sweeper({
      ledger,
      log,
      intervalMs: config.sweepIntervalMs,
      batch: config.sweepBatch,
    });
    sweeper.start();
    const relay = new OutboxRelay({
      ledger,
      log,
      intervalMs: config.outboxIntervalMs,
      // A row's time is its transaction's start; a dispatch commits up to one edge round trip later.
      graceMs: config.outboxGraceMs + config.dispatchTimeoutMs,
      batch: config.outboxBatch,
      republished: metrics.republished,
    });
    relay.start();
    return {
      ledger,
      sweeper,
      relay,
      async stop() {
        await relay.stop();
        await sweeper.stop();
        await statistics.stop();
        for (const l of loops) await l.stop();
        endings.close();
        await pruning.stop();
        downlink.close();
        await ledger.flushMarks();
        await publisher.close();
      },
    };
  },
};

if (import.meta.main) await runService(command);
