import { type ConsumerSpec, consumerSpec, type JetStreamTopology, STREAM } from '@fleetwire/protocol';
import { NOTIFYING_STATES } from './events.ts';

const SECOND = 1000;

export interface NotifierConsumers {
  commands: ConsumerSpec;
  telemetry: ConsumerSpec;
  deliveries: ConsumerSpec;
}

/**
 * The notifier's three durable consumers. NOTIFY is a work queue, so its consumers' filters must not
 * overlap: `*.notify.telemetry` and `*.notify.delivery` do not.
 */
export function notifierConsumers(
  topology: JetStreamTopology,
  cfg: { timeoutMs: number; concurrency: number },
): NotifierConsumers {
  const s = topology.subjects;
  return {
    commands: consumerSpec(topology.streams, {
      durableName: 'notifier-commands',
      stream: STREAM.COMMANDS,
      description: 'Terminal command states that notify webhooks',
      filterSubjects: NOTIFYING_STATES.map((state) => s.cmdAll(state)),
      // COMMANDS keeps 7 days: a first deployment must not replay a week of outcomes to hosts.
      deliverPolicy: 'new',
      ackWaitMs: 30 * SECOND,
    }),
    telemetry: consumerSpec(topology.streams, {
      durableName: 'notifier-telemetry',
      stream: STREAM.NOTIFY,
      description: 'Telemetry summaries to fan out to webhooks',
      filterSubjects: [s.notifyAll('telemetry')],
      ackWaitMs: 30 * SECOND,
    }),
    deliveries: consumerSpec(topology.streams, {
      durableName: 'notifier-deliveries',
      stream: STREAM.NOTIFY,
      description: 'One webhook POST per message, retried by delayed NAKs, then dead-lettered',
      filterSubjects: [s.notifyAll('delivery')],
      // Above the HTTP timeout, with room for a message that waits for a free slot.
      ackWaitMs: 2 * cfg.timeoutMs + 30 * SECOND,
      // No max_deliver: the attempts are counted by the handler, which ends every delivery in an ack or
      // a dead letter. A cap would let JetStream drop a delivery whose dead letter PostgreSQL refused.
      maxAckPending: Math.max(1_000, cfg.concurrency * 4),
    }),
  };
}
