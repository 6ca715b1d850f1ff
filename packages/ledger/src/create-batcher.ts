import type { CreateItem, CreateOutcome, CreateResult } from './create-batch.ts';

export interface CreateBatchOptions {
  /** How long the first create of a batch waits for company. */
  lingerMs: number;
  /** Creates per transaction; a full batch goes at once. */
  maxBatch: number;
  /** Batches (transactions, pool connections) in flight at once; creates queue behind them. */
  maxInFlight: number;
}

export const CREATE_BATCH_DEFAULTS: CreateBatchOptions = { lingerMs: 2, maxBatch: 200, maxInFlight: 4 };

interface Waiting {
  item: CreateItem;
  resolve(result: CreateResult): void;
  reject(err: Error): void;
}

/**
 * Group commit for creates: concurrent `create` calls (one per HTTP request) are coalesced into one
 * transaction of up to `maxBatch` items, after at most `lingerMs`, with up to `maxInFlight`
 * transactions at once; while all of them are busy, callers queue and the next batch grows.
 * Each caller gets its own outcome.
 */
export class CreateBatcher {
  readonly #run: (items: CreateItem[]) => Promise<CreateOutcome[]>;
  readonly #opts: CreateBatchOptions;
  #queue: Waiting[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;

  constructor(
    run: (items: CreateItem[]) => Promise<CreateOutcome[]>,
    opts: Partial<CreateBatchOptions> = {},
  ) {
    this.#run = run;
    this.#opts = { ...CREATE_BATCH_DEFAULTS, ...opts };
  }

  submit(item: CreateItem): Promise<CreateResult> {
    return new Promise<CreateResult>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (this.#queue.length >= this.#opts.maxBatch) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#opts.lingerMs);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length > 0 && this.#inFlight < this.#opts.maxInFlight) {
      void this.#runBatch(this.#queue.splice(0, this.#opts.maxBatch));
    }
  }

  async #runBatch(batch: Waiting[]): Promise<void> {
    this.#inFlight++;
    try {
      const outcomes = await this.#run(batch.map((w) => w.item));
      batch.forEach((w, i) => {
        const outcome = outcomes[i];
        if (outcome?.ok) w.resolve(outcome.value);
        else w.reject(outcome?.error ?? new Error('create batch returned no outcome'));
      });
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    } finally {
      this.#inFlight--;
      // Creates that queued behind a busy pool have waited long enough: they go at once.
      if (this.#queue.length > 0) this.#flush();
    }
  }
}
