import type { SubscriptionTarget } from './events.ts';

/** An enabled subscription with the event types it wants (empty: all). */
export interface TenantSubscription extends SubscriptionTarget {
  tenant: string;
  events: string[];
}

interface Waiting {
  tenant: string;
  eventType: string;
  resolve(targets: SubscriptionTarget[]): void;
  reject(err: Error): void;
}

/**
 * Which subscriptions want an event, with one query for many events: lookups made while no query
 * runs go together into the next one (one query for all their tenants); lookups made while one
 * runs wait for the query after it. So a lookup is always answered from a read that started after
 * it asked (a subscription committed before an event arrived is never missed, as with one query per
 * event), and a burst of events (the intake handles many at once) costs one round trip.
 */
export class SubscriberLookup {
  readonly #load: (tenants: string[]) => Promise<TenantSubscription[]>;
  #waiting: Waiting[] = [];
  #running = false;

  constructor(load: (tenants: string[]) => Promise<TenantSubscription[]>) {
    this.#load = load;
  }

  /** Enabled subscriptions of the tenant that want this event type, ordered by id. */
  subscribersOf(tenant: string, eventType: string): Promise<SubscriptionTarget[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ tenant, eventType, resolve, reject });
      // Lookups made in the same turn (a burst of handlers) join this query.
      if (!this.#running) queueMicrotask(() => void this.#drain());
    });
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        const batch = this.#waiting;
        this.#waiting = [];
        await this.#answer(batch);
      }
    } finally {
      this.#running = false;
    }
  }

  async #answer(batch: readonly Waiting[]): Promise<void> {
    let all: TenantSubscription[];
    try {
      all = await this.#load([...new Set(batch.map((w) => w.tenant))]);
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
      return;
    }
    for (const w of batch) {
      w.resolve(
        all
          .filter((s) => s.tenant === w.tenant && (s.events.length === 0 || s.events.includes(w.eventType)))
          .map(({ id, url }) => ({ id, url })),
      );
    }
  }
}
