import { TERMINAL_STATES } from '@fleetwire/ledger';
import { CommandStateChange, decodeBusMessage, type Subjects } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ReleaseBy } from '../attempt-timers.ts';

const ACK = new TextEncoder().encode('+ACK');
const NAK = new TextEncoder().encode('-NAK');

/**
 * Settles a JetStream message by its reply subject, as its consumer's client would: used for a
 * parked item, which its message object already counts as settled (NAKed with a delay).
 */
export function settleByReply(nc: NatsConnection): (reply: string, how: ReleaseBy) => void {
  return (reply, how) => nc.publish(reply, how === 'ack' ? ACK : NAK);
}

/**
 * Every command that reaches a terminal state, whichever process (an instance of this service, the
 * API, the sweeper) took it there: a plain subscription on the terminal state events, taken by
 * every instance. Missing one costs only an early release (the item comes back when it is due).
 */
export function subscribeCommandEndings(
  nc: NatsConnection,
  subjects: Subjects,
  ended: (commandId: string) => void,
  log: Logger,
): { close(): void } {
  const subs: Subscription[] = TERMINAL_STATES.map((state) =>
    nc.subscribe(subjects.cmdAll(state), {
      callback: (err, msg) => {
        if (err) {
          log.warn({ err }, 'command endings subscription failed; parked items come back when due');
          return;
        }
        try {
          ended(decodeBusMessage(msg.data, CommandStateChange).payload.commandId);
        } catch {
          // Not ours to judge: the event's own consumers report malformed events.
        }
      },
    }),
  );
  return {
    close() {
      for (const sub of subs) sub.unsubscribe();
    },
  };
}
