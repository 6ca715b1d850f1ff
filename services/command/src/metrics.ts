import { Counter, Histogram, type Registry } from 'prom-client';

export function commandMetrics(registry: Registry) {
  return {
    transitions: new Counter({
      name: 'fleetwire_command_transitions_total',
      help: 'Command state changes made by this instance, by the state reached',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    dispatches: new Counter({
      name: 'fleetwire_command_dispatches_total',
      help: 'Downlink requests to the edges, by outcome (ack, busy, offline, rejected, timeout)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    dispatchSeconds: new Histogram({
      name: 'fleetwire_command_dispatch_seconds',
      help: 'Round trip of one downlink request to the edge',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    queuedSeconds: new Histogram({
      name: 'fleetwire_command_queued_to_sent_seconds',
      help: 'From creation to the first write to the device',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
      registers: [registry],
    }),
    republished: new Counter({
      name: 'fleetwire_command_outbox_republished_total',
      help: 'State events the outbox relay republished (their first publish was lost or not marked)',
      registers: [registry],
    }),
    replies: new Counter({
      name: 'fleetwire_command_replies_total',
      help: 'Device answers by result (matched, unmatched, invalid)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}

export type CommandMetrics = ReturnType<typeof commandMetrics>;
