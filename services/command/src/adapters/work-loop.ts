import type { Logger } from '@fleetwire/runtime';
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export interface WorkLoopOptions {
  /** Messages handled at once. */
  concurrency: number;
  /** Messages with the same key are handled one after another, in arrival order (e.g. per device). */
  keyOf(msg: JsMsg): string;
  /** Acknowledges the message itself (ack, nak, terminate); throwing means "transient, try again later". */
  handle(msg: JsMsg): Promise<void>;
  /** Redelivery delay after a thrown error. */
  retryDelayMs: number;
  log: Logger;
}

/**
 * Pulls from a durable consumer and runs handlers with bounded concurrency, serialised per key.
 * Intake pauses while every slot is busy, so the server's max_ack_pending does the rest.
 */
export class WorkLoop {
  readonly #consumer: Consumer;
  readonly #opts: WorkLoopOptions;
  readonly #chains = new Map<string, Promise<void>>();
  readonly #running = new Set<Promise<void>>();
  #messages: ConsumerMessages | undefined;
  #intake: Promise<void> | undefined;

  constructor(consumer: Consumer, opts: WorkLoopOptions) {
    this.#consumer = consumer;
    this.#opts = opts;
  }

  async start(): Promise<void> {
    this.#messages = await this.#consumer.consume({ max_messages: Math.max(this.#opts.concurrency * 2, 16) });
    this.#intake = (async () => {
      for await (const msg of this.#messages!) {
        while (this.#running.size >= this.#opts.concurrency) await Promise.race(this.#running);
        this.#schedule(msg);
      }
    })();
  }

  #schedule(msg: JsMsg): void {
    const key = this.#opts.keyOf(msg);
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.#handle(msg));
    this.#chains.set(key, run);
    this.#running.add(run);
    void run.finally(() => {
      this.#running.delete(run);
      if (this.#chains.get(key) === run) this.#chains.delete(key);
    });
  }

  async #handle(msg: JsMsg): Promise<void> {
    try {
      await this.#opts.handle(msg);
    } catch (err) {
      this.#opts.log.warn(
        { err, subject: msg.subject, deliveries: msg.info.deliveryCount },
        'work item failed; it will come back',
      );
      msg.nak(this.#opts.retryDelayMs);
    }
  }

  /** Stops pulling and waits for the handlers in progress. */
  async stop(): Promise<void> {
    await this.#messages?.close();
    await this.#intake;
    await Promise.allSettled([...this.#running]);
  }
}
