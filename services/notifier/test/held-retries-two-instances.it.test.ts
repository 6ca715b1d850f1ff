import { eventually } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { eventIdOf, expectEachOnce, OneHostStack } from './one-host-stack.ts';

const EVENTS = 300;

describe('held webhook retries with two notifier instances (real NATS, PostgreSQL and HTTP receiver)', () => {
  const stack = new OneHostStack();

  // Two instances share the consumers and the held subjects, as two pods of one deployment do.
  beforeAll(() => stack.start('held-two', { instances: 2, backoff: '1s,30s,1s' }));
  afterAll(() => stack.stop());

  it('releases each held retry once: every event delivered exactly once after the host is back', async () => {
    stack.host.respond('/', 503);
    const eventIds = await Promise.all(
      Array.from({ length: EVENTS }, (_, i) => stack.publishCompleted({ i })),
    );
    await eventually(async () => (await stack.heldCount()) >= EVENTS, 20_000, 'every retry held');

    const upAt = Date.now();
    stack.host.respond('/', 204);
    await eventually(
      () => new Set(stack.receivedSince(upAt).map(eventIdOf)).size >= EVENTS,
      25_000,
      'every event delivered after the host came back',
    );
    // Settled: nothing held, and no second copy arrives later.
    await eventually(async () => (await stack.heldCount()) === 0, 5_000, 'nothing left held');
    await new Promise((r) => setTimeout(r, 1_500));
    expectEachOnce(stack.receivedSince(upAt), eventIds);
  }, 60_000);
});
