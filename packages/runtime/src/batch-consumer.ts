import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Logger } from './logger.ts';

export interface BatchOutcome {
  /** Messages that can never succeed (undecodable, invalid): terminated instead of acknowledged. */
  poison?: ReadonlyArray<{ msg: JsMsg; reason: string }>;
}

export interface BatchConsumerOptions {
  /** Flush when this many messages are buffered… */
  maxBatch: number;
  /** …or when the oldest buffered message has waited this long. */
  maxWaitMs: number;
  /** Handles a batch; throwing means "transient, retry the same batch later" (e.g. PostgreSQL is down). */
  handle(batch: JsMsg[]): Promise<BatchOutcome | undefined>;
  log: Logger;
  /** Called with false while a batch keeps failing, true once one succeeds again. */
  onHealthy?(healthy: boolean): void;
  /** Terminates a poison message (the runtime's `terminate` knows which servers accept a reason). */
  terminate(msg: JsMsg, reason: string): void;
  maxRetryDelayMs?: number;
  /**
   * Batches handled at once (default 1). Above 1, batch n+1 is decoded while batch n commits, so
   * `handle` must tolerate concurrent calls (e.g. take row locks in a fixed order).
   */
  concurrency?: number;
  /**
   * Tells the server "still working" (+WPI) for every message held longer than this, buffered or
   * in a batch being handled (default: never). The client keeps pulling whatever is handled, up to
   * max_ack_pending, so under a backlog messages can wait in the buffer past the consumer's ack
   * wait; without this they are redelivered and handled twice. Set it below the ack wait.
   */
  keepAliveMs?: number;
}

/**
 * Pulls from a durable consumer and hands the messages over in batches bounded by size and time,
 * acknowledging each message only after its batch was handled. While a batch fails it is retried
 * with backoff and its messages are kept from redelivery; the server stops sending more once
 * max_ack_pending is reached, so intake pauses by itself and nothing is lost.
 */
export class BatchConsumer {
  readonly #opts: BatchConsumerOptions;
  readonly #consumer: Consumer;
  #messages: ConsumerMessages | undefined;
  #buffer: JsMsg[] = [];
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #due = false;
  #stopping = false;
  #done: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  /** Batches being handled, for the keep-alive. */
  readonly #handling = new Set<JsMsg[]>();
  /** Messages held at the previous keep-alive tick. */
  #heldBefore = new Set<JsMsg>();
  #keepAlive: NodeJS.Timeout | undefined;

  constructor(consumer: Consumer, opts: BatchConsumerOptions) {
    this.#consumer = consumer;
    this.#opts = opts;
  }

  async start(): Promise<void> {
    this.#messages = await this.#consumer.consume({ max_messages: Math.max(this.#opts.maxBatch * 2, 256) });
    const intake = (async () => {
      for await (const m of this.#messages!) {
        this.#buffer.push(m);
        if (this.#buffer.length >= this.#opts.maxBatch) this.#wake?.();
        else this.#arm();
      }
    })();
    this.#done = Promise.all([intake, this.#flushLoop()]).then(() => undefined);
    if (this.#opts.keepAliveMs) this.#keepAlive = setInterval(() => this.#extend(), this.#opts.keepAliveMs);
  }

  /** +WPI for the messages held since the previous tick (so at least keepAliveMs). */
  #extend(): void {
    const held = new Set<JsMsg>(this.#buffer);
    for (const batch of this.#handling) for (const m of batch) held.add(m);
    for (const m of held) if (this.#heldBefore.has(m)) m.working();
    this.#heldBefore = held;
  }

  /** Starts the max-wait clock for the oldest buffered message. */
  #arm(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#due = true;
      this.#wake?.();
    }, this.#opts.maxWaitMs);
  }

  #shouldFlush(): boolean {
    const n = this.#buffer.length;
    return n >= this.#opts.maxBatch || (n > 0 && (this.#due || this.#stopping));
  }

  async #flushLoop(): Promise<void> {
    while (!this.#stopping || this.#buffer.length > 0) {
      if (!this.#shouldFlush()) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      this.#due = false;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const running = this.#process(this.#buffer.splice(0, this.#opts.maxBatch));
      this.#inFlight.add(running);
      void running.finally(() => this.#inFlight.delete(running));
      if (this.#inFlight.size >= (this.#opts.concurrency ?? 1)) await Promise.race(this.#inFlight);
      if (this.#buffer.length > 0) this.#arm();
    }
    await Promise.all(this.#inFlight);
  }

  async #process(batch: JsMsg[]): Promise<void> {
    this.#handling.add(batch);
    try {
      await this.#handleUntilDone(batch);
    } finally {
      this.#handling.delete(batch);
    }
  }

  async #handleUntilDone(batch: JsMsg[]): Promise<void> {
    let attempt = 0;
    for (;;) {
      try {
        const outcome = await this.#opts.handle(batch);
        const poison = new Set(outcome?.poison?.map((p) => p.msg));
        for (const p of outcome?.poison ?? []) this.#opts.terminate(p.msg, p.reason);
        for (const m of batch) if (!poison.has(m)) m.ack();
        if (attempt > 0) this.#opts.onHealthy?.(true);
        return;
      } catch (err) {
        attempt++;
        if (attempt === 1) this.#opts.onHealthy?.(false);
        const delay = Math.min(this.#opts.maxRetryDelayMs ?? 4_000, 250 * 2 ** Math.min(attempt, 10));
        this.#opts.log.warn(
          { err, attempt, batch: batch.length, retryInMs: delay },
          'batch failed; will retry',
        );
        // Keep the batch (and what waits behind it) ours, so no other instance gets it meanwhile.
        for (const m of batch) m.working();
        for (const m of this.#buffer) m.working();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Stops pulling, handles what is buffered, then resolves. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#messages?.close();
    this.#wake?.();
    await this.#done;
    clearInterval(this.#keepAlive);
  }
}
