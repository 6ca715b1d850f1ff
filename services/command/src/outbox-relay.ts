import type { CommandLedger } from '@fleetwire/ledger';
import type { Logger } from '@fleetwire/runtime';
import type { Counter } from 'prom-client';

export interface OutboxRelayDeps {
  ledger: CommandLedger;
  log: Logger;
  intervalMs: number;
  /** Rows younger than this are left to the process that wrote them (it publishes right after commit). */
  graceMs: number;
  batch: number;
  republished: Counter;
}

/**
 * Republishes state events and dispatch items that a crash (or a failed publish) left behind in the
 * ledger's outbox, every few seconds. Several instances relay at once without overlap: the ledger
 * takes pending rows with FOR UPDATE SKIP LOCKED.
 */
export class OutboxRelay {
  readonly #deps: OutboxRelayDeps;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: OutboxRelayDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running ??= this.relay()
        .then(() => undefined)
        .catch((err) => this.#deps.log.error({ err }, 'outbox relay failed'))
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#deps.intervalMs);
  }

  /** Republishes everything pending past the grace period, a batch at a time; returns how many rows. */
  async relay(): Promise<number> {
    const { ledger, graceMs, batch, republished, log } = this.#deps;
    let total = 0;
    for (;;) {
      const n = await ledger.relayUnpublished({ graceMs, limit: batch });
      total += n;
      republished.inc(n);
      if (n < batch) break;
    }
    if (total > 0)
      log.warn({ rows: total }, 'republished state events a crash or failed publish left behind');
    return total;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
