import { Counter, Histogram, type Registry } from 'prom-client';
import type { DeliveryMetrics } from './delivery.ts';

export interface NotifierMetrics {
  delivery: DeliveryMetrics;
  event(eventType: string, deliveries: number): void;
  /** A retry held outside the delivery consumer's slots (holding.ts). */
  held(): void;
  /** Held retries put back on notify.delivery. */
  released(count: number): void;
}

export function notifierMetrics(registry: Registry): NotifierMetrics {
  const deliveries = new Counter({
    name: 'fleetwire_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, dead_letter, dropped) and target kind',
    labelNames: ['outcome', 'target'] as const,
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'fleetwire_webhook_dead_letters_total',
    help: 'Deliveries written to webhook_dead_letters after their last attempt',
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'fleetwire_webhook_request_seconds',
    help: 'Time from sending a webhook POST to its answer or failure',
    labelNames: ['result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const events = new Counter({
    name: 'fleetwire_webhook_events_total',
    help: 'Events fanned out, by event type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const planned = new Counter({
    name: 'fleetwire_webhook_deliveries_planned_total',
    help: 'Deliveries published for fanned-out events (one per target)',
    registers: [registry],
  });
  const held = new Counter({
    name: 'fleetwire_webhook_held_total',
    help: 'Retries held in NOTIFY under notify.held.<host>.<due> instead of a delivery consumer slot',
    registers: [registry],
  });
  const released = new Counter({
    name: 'fleetwire_webhook_released_total',
    help: 'Held retries put back on notify.delivery (due, or their host recovered)',
    registers: [registry],
  });
  return {
    held: () => held.inc(),
    released: (count) => released.inc(count),
    delivery: {
      outcome(outcome, target) {
        deliveries.inc({ outcome, target });
        if (outcome === 'dead_letter') deadLetters.inc();
      },
      attempt(ok, seconds) {
        latency.observe({ result: ok ? 'success' : 'failure' }, seconds);
      },
    },
    event(eventType, count) {
      events.inc({ type: eventType });
      planned.inc(count);
    },
  };
}
