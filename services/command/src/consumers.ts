import { queuedCommandsConsumer } from '@fleetwire/ledger';
import { type ConsumerSpec, consumerSpec, type JetStreamTopology, UP_KIND } from '@fleetwire/protocol';

export interface CommandConsumers {
  dispatch: ConsumerSpec;
  /** New commands: their queued events (defined by the ledger, which the API provisions too). */
  queued: ConsumerSpec;
  presence: ConsumerSpec;
  replies: ConsumerSpec;
}

/** The dispatcher's durable consumers; every instance pulls from the same four. */
export function commandConsumers(topology: JetStreamTopology): CommandConsumers {
  const { streams, subjects } = topology;
  return {
    dispatch: consumerSpec(streams, {
      durableName: 'command-dispatcher',
      stream: 'DISPATCH',
      description: 'Sends the oldest open command of a device; retries come back as delayed NAKs',
      filterSubjects: [subjects.dispatchAll()],
      ackWaitMs: 30_000,
      maxAckPending: 10_000,
    }),
    queued: queuedCommandsConsumer(topology),
    presence: consumerSpec(streams, {
      durableName: 'command-presence',
      stream: 'PRESENCE',
      description: 'Re-dispatches the open commands of devices that come online',
      filterSubjects: [subjects.presenceAll()],
      deliverPolicy: 'new',
      ackWaitMs: 30_000,
    }),
    replies: consumerSpec(streams, {
      durableName: 'command-replies',
      stream: 'DEVICE_EVENTS',
      description: 'Matches device answers to commands',
      filterSubjects: [subjects.upAll(UP_KIND.REPLY)],
      deliverPolicy: 'new',
      ackWaitMs: 30_000,
    }),
  };
}
