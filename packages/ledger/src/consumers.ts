import { type ConsumerSpec, consumerSpec, type JetStreamTopology } from '@fleetwire/protocol';

/**
 * How the dispatcher learns of new commands: the `cmd.<device>.queued` event every create already
 * publishes (and the outbox relay republishes if it was lost), read through this durable consumer.
 * A create needs no `dispatch.<device>` item of its own — one JetStream publish, PubAck and stored
 * work-queue message less per command. Both the API (which creates commands) and the command service
 * (which reads it) provision it: a command created before the command service first started is then
 * waiting in it, as it waited in the DISPATCH work queue before. Deliver `new`: COMMANDS keeps
 * 7 days, and a first deployment must not look at a week of old commands.
 */
export function queuedCommandsConsumer(topology: JetStreamTopology): ConsumerSpec {
  return consumerSpec(topology.streams, {
    durableName: 'command-queued',
    stream: 'COMMANDS',
    description: 'New commands (their queued events) for the dispatcher; retries come back as delayed NAKs',
    filterSubjects: [topology.subjects.cmdAll('queued')],
    deliverPolicy: 'new',
    ackWaitMs: 30_000,
    maxAckPending: 10_000,
  });
}
