/**
 * Group work across the callers of one event-loop turn: every `add` made before the next
 * `setImmediate` goes to one `run` call (one SQL statement instead of one per device). Under load
 * many session starts and upgrades arrive per turn, and a statement's fixed cost (driver,
 * round trip, planning, commit) then is paid once for all of them; alone, a caller waits one turn.
 */
export class TurnBatch<In, Out> {
  readonly #run: (inputs: In[]) => Promise<Out[]>;
  readonly #maxBatch: number;
  #inputs: In[] = [];
  #waiters: Array<{ resolve(out: Out): void; reject(err: unknown): void }> = [];

  readonly #flushed: ((size: number) => void) | undefined;

  /** `run` answers with one output per input, in order; `flushed` hears each batch's size. */
  constructor(
    run: (inputs: In[]) => Promise<Out[]>,
    opts: { maxBatch?: number; flushed?: (size: number) => void } = {},
  ) {
    this.#run = run;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#flushed = opts.flushed;
  }

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      if (this.#inputs.length === 0) setImmediate(() => this.#flush());
      this.#inputs.push(input);
      this.#waiters.push({ resolve, reject });
      if (this.#inputs.length >= this.#maxBatch) this.#flush();
    });
  }

  #flush(): void {
    if (this.#inputs.length === 0) return;
    const inputs = this.#inputs;
    const waiters = this.#waiters;
    this.#inputs = [];
    this.#waiters = [];
    this.#flushed?.(inputs.length);
    this.#run(inputs).then(
      (outputs) => {
        for (const [i, waiter] of waiters.entries()) waiter.resolve(outputs[i] as Out);
      },
      (err: unknown) => {
        for (const waiter of waiters) waiter.reject(err);
      },
    );
  }
}
