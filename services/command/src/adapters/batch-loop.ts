import type { Logger } from '@fleetwire/runtime';
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export interface BatchLoopOptions {
  /** Batches handled at once. */
  concurrency: number;
  /** Messages per batch. */
  maxBatch: number;
  /** How long the oldest waiting message waits for company before a batch goes anyway. */
  lingerMs: number;
  /** Messages with the same key are never in two batches at once, and keep their arrival order. */
  keyOf(msg: JsMsg): string;
  /**
   * Handles a batch and settles each message itself (ack, nak, terminate); throwing means
   * "transient, try again later": every message of the batch is NAKed (settled ones stay settled).
   */
  handle(batch: JsMsg[]): Promise<void>;
  /** Redelivery delay after a thrown error. */
  retryDelayMs: number;
  log: Logger;
}

interface Waiting {
  msg: JsMsg;
  key: string;
  at: number;
}

/**
 * Pulls from one or more durable consumers (into one buffer) and hands messages over in batches: a batch goes when it is full or
 * its oldest message has lingered, up to `concurrency` batches at once; while every slot is busy,
 * messages wait and the next batch grows (group commit). A key (a device) in a running batch keeps
 * its later messages waiting, so one device's messages are handled one batch after another, in
 * arrival order. Intake pauses while the buffer is full; the server's max_ack_pending does the rest.
 */
export class BatchWorkLoop {
  readonly #consumers: readonly Consumer[];
  readonly #opts: BatchLoopOptions;
  readonly #busyKeys = new Set<string>();
  readonly #running = new Set<Promise<void>>();
  readonly #maxBuffered: number;
  #buffer: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Intakes waiting for room in the buffer. */
  #room: Array<() => void> = [];
  #stopping = false;
  #messages: ConsumerMessages[] = [];
  #intakes: Promise<void>[] = [];

  constructor(consumers: Consumer | readonly Consumer[], opts: BatchLoopOptions) {
    this.#consumers = Array.isArray(consumers) ? consumers : [consumers as Consumer];
    this.#opts = opts;
    this.#maxBuffered = opts.maxBatch * (opts.concurrency + 1);
  }

  async start(): Promise<void> {
    for (const consumer of this.#consumers) {
      const messages = await consumer.consume({ max_messages: Math.max(this.#opts.maxBatch * 2, 64) });
      this.#messages.push(messages);
      this.#intakes.push(this.#intake(messages));
    }
  }

  async #intake(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      this.#buffer.push({ msg, key: this.#opts.keyOf(msg), at: performance.now() });
      this.#pump();
      while (this.#buffer.length >= this.#maxBuffered && !this.#stopping) {
        await new Promise<void>((resolve) => this.#room.push(resolve));
      }
    }
  }

  /** Lets every waiting intake go on. */
  #makeRoom(): void {
    const waiting = this.#room;
    this.#room = [];
    for (const resolve of waiting) resolve();
  }

  /** Starts every batch that is due and has a free slot. */
  #pump(): void {
    while (this.#running.size < this.#opts.concurrency) {
      const batch = this.#takeDueBatch();
      if (!batch) return;
      this.#run(batch);
    }
  }

  /** The next batch if one is due: messages whose key is free, oldest first; else arms the linger timer. */
  #takeDueBatch(): Waiting[] | undefined {
    const free = this.#buffer.filter((w) => !this.#busyKeys.has(w.key));
    const oldest = free[0];
    if (!oldest) return undefined;
    const waited = performance.now() - oldest.at;
    if (free.length < this.#opts.maxBatch && waited < this.#opts.lingerMs && !this.#stopping) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, this.#opts.lingerMs - waited);
      return undefined;
    }
    const batch = free.slice(0, this.#opts.maxBatch);
    const taken = new Set(batch);
    this.#buffer = this.#buffer.filter((w) => !taken.has(w));
    return batch;
  }

  #run(batch: Waiting[]): void {
    const keys = new Set(batch.map((w) => w.key));
    for (const key of keys) this.#busyKeys.add(key);
    const msgs = batch.map((w) => w.msg);
    const run = this.#handle(msgs).finally(() => {
      for (const key of keys) this.#busyKeys.delete(key);
      this.#running.delete(run);
      if (this.#buffer.length < this.#maxBuffered) this.#makeRoom();
      this.#pump();
    });
    this.#running.add(run);
  }

  async #handle(msgs: JsMsg[]): Promise<void> {
    try {
      await this.#opts.handle(msgs);
    } catch (err) {
      this.#opts.log.warn({ err, batch: msgs.length }, 'work batch failed; its items will come back');
      for (const msg of msgs) msg.nak(this.#opts.retryDelayMs);
    }
  }

  /** Stops pulling, handles what is already buffered, and waits for the batches in progress. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#messages.map((m) => m.close()));
    this.#makeRoom();
    await Promise.all(this.#intakes);
    clearTimeout(this.#timer);
    while (this.#buffer.length > 0 || this.#running.size > 0) {
      this.#pump();
      await Promise.race(this.#running);
    }
  }
}
