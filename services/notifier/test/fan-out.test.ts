import { jetStreamTopology, type WebhookDelivery } from '@fleetwire/protocol';
import { createLogger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import type { NotifyEvent, SubscriptionTarget } from '../src/events.ts';
import { type FanOutDeps, fanOutHandler } from '../src/fan-out.ts';
import type { FirstAttempt } from '../src/first-attempt.ts';

const event = {
  tenant: 'default',
  eventId: 'c1:completed',
  eventType: 'command.completed',
  createdAt: 0,
  deviceId: '350612345678901',
  commandId: 'c1',
  payload: { commandId: 'c1' },
} as unknown as NotifyEvent;

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The fan-out with in-memory ports: a lookup the test answers, attempts it records, a source message. */
function harness() {
  const lookup = deferred<SubscriptionTarget[]>();
  const attempts: string[] = [];
  const seedAttempt = deferred<FirstAttempt>();
  const acked: boolean[] = [];
  const deps: FanOutDeps = {
    subjects: jetStreamTopology({ root: 'fw' }).subjects,
    config: { notificationUrl: 'http://seed-host', telemetryWebhookEnabled: false },
    subscribersOf: () => lookup.promise,
    publish: () => Promise.resolve(),
    firstAttempt: (delivery: WebhookDelivery) => {
      attempts.push(delivery.url);
      return delivery.subscriptionId ? Promise.resolve('done') : seedAttempt.promise;
    },
    terminate: () => {},
    onEvent: () => {},
    log: createLogger('notifier', 'test', 'silent'),
  };
  const msg = { ack: () => acked.push(true) } as unknown as JsMsg;
  const handled = fanOutHandler(deps, () => event)(msg);
  return { lookup, attempts, seedAttempt, acked, handled };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('event fan-out', () => {
  it('sends the NOTIFICATION_URL delivery before the subscriptions are read, and acks after both', async () => {
    const h = harness();
    await settle();
    expect(h.attempts).toEqual(['http://seed-host/webhooks/iot/v1/command/confirm']);

    h.lookup.resolve([{ id: 'wh_1', url: 'http://sub-host/hook' }]);
    await settle();
    expect(h.attempts).toEqual(['http://seed-host/webhooks/iot/v1/command/confirm', 'http://sub-host/hook']);
    expect(h.acked).toEqual([]); // the seed attempt is still out

    h.seedAttempt.resolve('done');
    await h.handled;
    expect(h.acked).toEqual([true]);
  });

  it('a failed lookup fails the event (redelivered, not acked) only after the seed attempt ended', async () => {
    const h = harness();
    let settled = false;
    const outcome = h.handled.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    void outcome.then(() => (settled = true));
    h.lookup.reject(new Error('database unavailable'));
    await settle();
    expect(settled).toBe(false);

    h.seedAttempt.reject(new Error('NATS closed'));
    expect(await outcome).toBe('database unavailable');
    expect(h.acked).toEqual([]);
  });

  it('a seed delivery that could not be stored fails the event after the subscriptions were served', async () => {
    const h = harness();
    h.seedAttempt.reject(new Error('NATS closed'));
    await settle();
    h.lookup.resolve([{ id: 'wh_1', url: 'http://sub-host/hook' }]);
    await expect(h.handled).rejects.toThrow('NATS closed');
    expect(h.attempts).toContain('http://sub-host/hook');
    expect(h.acked).toEqual([]);
  });
});
