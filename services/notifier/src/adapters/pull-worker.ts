import type { Logger } from '@fleetwire/runtime';
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export interface PullWorkerOptions {
  /** Messages handled at once; the pull buffer is the same size, so nothing waits long for a slot. */
  concurrency: number;
  /** Settles the message itself (ack/nak/term). A throw is logged and the message NAKed. */
  handle(msg: JsMsg): Promise<void>;
  log: Logger;
  /** Delay of the NAK after an unexpected throw. */
  retryDelayMs?: number;
}

/**
 * Pulls from a durable consumer and handles up to `concurrency` messages at once, each independently:
 * a slow message (a webhook host that times out) occupies one slot, never the ones behind it.
 */
export class PullWorker {
  readonly #consumer: Consumer;
  readonly #opts: PullWorkerOptions;
  readonly #inFlight = new Set<Promise<void>>();
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #slotFreed: (() => void) | undefined;

  constructor(consumer: Consumer, opts: PullWorkerOptions) {
    this.#consumer = consumer;
    this.#opts = opts;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  async start(): Promise<void> {
    this.#messages = await this.#consumer.consume({ max_messages: this.#opts.concurrency });
    const messages = this.#messages;
    this.#loop = (async () => {
      for await (const msg of messages) {
        while (this.#inFlight.size >= this.#opts.concurrency) {
          await new Promise<void>((resolve) => {
            this.#slotFreed = resolve;
          });
        }
        this.#run(msg);
      }
    })();
  }

  #run(msg: JsMsg): void {
    const task = this.#opts
      .handle(msg)
      .catch((err) => {
        this.#opts.log.error({ err, seq: msg.info.streamSequence }, 'message handler failed; will retry');
        msg.nak(this.#opts.retryDelayMs ?? 1_000);
      })
      .finally(() => {
        this.#inFlight.delete(task);
        this.#slotFreed?.();
        this.#slotFreed = undefined;
      });
    this.#inFlight.add(task);
  }

  /** Stops pulling and waits for the messages in hand (each bounded by its own timeout). */
  async stop(): Promise<void> {
    await this.#messages?.close();
    this.#slotFreed?.();
    await this.#loop;
    await Promise.allSettled([...this.#inFlight]);
  }
}
