/**
 * Group work across callers into one `run` call (one SQL statement instead of one per device),
 * the way a database groups commits: the first `add` after a quiet spell runs in the next
 * `setImmediate` with whatever else arrived in that turn; while `maxInFlight` runs are under way,
 * later adds wait and go together in the next run as soon as one finishes.
 *
 * A statement's fixed cost (driver, round trip, planning, commit) is then paid once per batch, and
 * batches grow with the load by themselves: a per-turn flush alone made batches of one or two when
 * devices arrive one by one instead of in bursts (measured: PostgreSQL's CPU per session doubled).
 * Alone, a caller waits one turn.
 */
export class TurnBatch<In, Out> {
  readonly #run: (inputs: In[]) => Promise<Out[]>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #flushed: ((size: number) => void) | undefined;
  #inputs: In[] = [];
  #waiters: Array<{ resolve(out: Out): void; reject(err: unknown): void }> = [];
  #inFlight = 0;
  #scheduled = false;

  /** `run` answers with one output per input, in order; `flushed` hears each batch's size. */
  constructor(
    run: (inputs: In[]) => Promise<Out[]>,
    opts: { maxBatch?: number; maxInFlight?: number; flushed?: (size: number) => void } = {},
  ) {
    this.#run = run;
    this.#maxBatch = opts.maxBatch ?? 500;
    // Two, not one: a statement stuck on a lock does not hold every later session start behind it.
    this.#maxInFlight = opts.maxInFlight ?? 2;
    this.#flushed = opts.flushed;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#inputs.push(input);
      this.#waiters.push({ resolve, reject });
      // A full batch goes at once, in flight or not: waiting would only grow it past the limit.
      if (this.#inputs.length >= this.#maxBatch) this.#flush();
      else this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#inputs.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#inFlight < this.#maxInFlight) this.#flush();
    });
  }

  #flush(): void {
    if (this.#inputs.length === 0) return;
    const inputs = this.#inputs;
    const waiters = this.#waiters;
    this.#inputs = [];
    this.#waiters = [];
    this.#inFlight++;
    this.#flushed?.(inputs.length);
    const settled = () => {
      this.#inFlight--;
      this.#schedule();
    };
    this.#run(inputs).then(
      (outputs) => {
        settled();
        for (const [i, waiter] of waiters.entries()) waiter.resolve(outputs[i] as Out);
      },
      (err: unknown) => {
        settled();
        for (const waiter of waiters) waiter.reject(err);
      },
    );
  }
}
