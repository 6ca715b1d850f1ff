import type { CommandLedger } from '@fleetwire/ledger';
import { type Logger, type PeriodicTask, runEvery } from '@fleetwire/runtime';

/**
 * Expires commands past their time to live, including those of devices that never came back (no
 * work item would ever look at them). Several instances sweep at once without overlap: the ledger
 * takes due rows with FOR UPDATE SKIP LOCKED.
 */
export class Sweeper {
  readonly #ledger: CommandLedger;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #batch: number;
  #task: PeriodicTask | undefined;

  constructor(deps: { ledger: CommandLedger; log: Logger; intervalMs: number; batch: number }) {
    this.#ledger = deps.ledger;
    this.#log = deps.log;
    this.#intervalMs = deps.intervalMs;
    this.#batch = deps.batch;
  }

  start(): void {
    this.#task = runEvery(
      this.#intervalMs,
      () => this.sweep(),
      (err) => this.#log.error({ err }, 'sweep failed'),
    );
  }

  /** Expires everything due now, a batch at a time; returns how many. */
  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const expired = await this.#ledger.expireDue(this.#batch);
      total += expired.length;
      for (const c of expired) this.#log.info({ deviceId: c.deviceId, commandId: c.id }, 'command expired');
      if (expired.length < this.#batch) return total;
    }
  }

  async stop(): Promise<void> {
    await this.#task?.stop();
  }
}
