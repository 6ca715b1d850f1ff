import type { Msg, NatsConnection } from '@nats-io/transport-node';

/**
 * What an edge does with a device's down-subject subscription: deliver messages to one callback,
 * and leave the subject when the connection ends.
 */
export interface DownlinkSubscription {
  unsubscribe(): void;
}

export type DownlinkCallback = (err: Error | null, msg: Msg) => void;

/** An object that takes a subscription's messages: held instead of a closure per subscription. */
export interface DownlinkReceiver {
  onDownlink(err: Error | null, msg: Msg): void;
}

/**
 * The parts of nats.js's protocol handler (`@nats-io/nats-core` 3.4.x, lib/protocol.js
 * ProtocolHandler and Subscriptions) that a lean subscription registers through. The handler
 * treats its subscriptions structurally: `subscribe` gives them a sid and sends SUB; a MSG calls
 * `callback(null, msg)` and counts `received` against `max`; a reconnect re-sends SUB from
 * `subject`/`queue`/`sid`; a permission error calls `callback(err, {})` then `close(err)`;
 * `unsubscribe` sends UNSUB and, through `subscriptions.cancel`, calls `close()`; connection
 * close calls `close()`; connection drain calls `drain()`.
 */
interface ProtocolInternals {
  subscribe(sub: LeanSubscription): void;
  unsubscribe(sub: LeanSubscription, max?: number): void;
  unsub(sub: LeanSubscription, max?: number): void;
  flush(): Promise<void>;
  subscriptions: { cancel(sub: LeanSubscription): void };
}

const WHITESPACE = /[\s]/;

/**
 * A core-NATS subscription with a callback and nothing else. nats.js's SubscriptionImpl is an
 * async iterator even in callback form: three deferred promises with their resolve/reject closures,
 * a yields array and some twenty counters and flags, about 1 KB per subscription. An edge holds
 * one subscription per connected device and uses only its callback and `unsubscribe`, so at tens of
 * thousands of idle devices that is the largest item a connection costs. This class carries what
 * the protocol handler reads (see ProtocolInternals) and nothing more; `undefined` fields the
 * handler reads are left off the object (`queue`, `requestSubject`), which reads the same.
 */
class LeanSubscription implements DownlinkSubscription {
  /** Assigned by the protocol handler's subscription table. */
  sid = 0;
  /** Counted by the protocol handler for each message. */
  received = 0;
  /** Set by the protocol handler on `unsubscribe(max)`. */
  max: number | undefined = undefined;
  readonly subject: string;
  readonly #receiver: DownlinkReceiver;
  readonly #protocol: ProtocolInternals;
  #closed = false;

  constructor(protocol: ProtocolInternals, subject: string, receiver: DownlinkReceiver) {
    this.#protocol = protocol;
    this.subject = subject;
    this.#receiver = receiver;
  }

  /** What the protocol handler calls with each message (and with an error before a close). */
  callback(err: Error | null, msg: Msg): void {
    this.#receiver.onDownlink(err, msg);
  }

  unsubscribe(): void {
    if (!this.#closed) this.#protocol.unsubscribe(this);
  }

  /** Called by the protocol handler when it drops the subscription (unsubscribe, error, close). */
  close(): void {
    this.#closed = true;
  }

  isClosed(): boolean {
    return this.#closed;
  }

  /** As nats.js's: UNSUB, then forget the subscription once the server has seen it. */
  drain(): Promise<void> {
    this.#protocol.unsub(this);
    const forget = () => this.#protocol.subscriptions.cancel(this);
    return this.#protocol.flush().then(forget, forget);
  }
}

/**
 * Subscribes `subject` on `nc` with a LeanSubscription (same SUB/UNSUB on the wire, same callback
 * contract as `nc.subscribe(subject, {callback})`), with nc.subscribe's checks. A receiver object
 * (e.g. the connection itself) costs nothing more per subscription; a callback costs a wrapper.
 */
export function subscribeLean(
  nc: NatsConnection,
  subject: string,
  to: DownlinkReceiver | DownlinkCallback,
): DownlinkSubscription {
  const receiver = typeof to === 'function' ? { onDownlink: to } : to;
  if (nc.isClosed() || nc.isDraining() || subject.length === 0 || WHITESPACE.test(subject)) {
    // Throws nats.js's own error for each of these cases.
    return nc.subscribe(subject, { callback: (err, msg) => receiver.onDownlink(err, msg) });
  }
  const protocol = (nc as unknown as { protocol: ProtocolInternals }).protocol;
  const sub = new LeanSubscription(protocol, subject, receiver);
  protocol.subscribe(sub);
  return sub;
}
