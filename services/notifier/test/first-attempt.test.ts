import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TenantId, WebhookDelivery } from '@fleetwire/protocol';
import { createLogger } from '@fleetwire/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postWebhook } from '../src/adapters/http-sender.ts';
import { CircuitBreaker } from '../src/circuit.ts';
import type { DeliveryDeps } from '../src/delivery.ts';
import { FirstAttempts, firstAttemptLimits } from '../src/first-attempt.ts';

describe('FirstAttempts (real HTTP receiver)', () => {
  const received: string[] = [];
  let url = '';
  const server = http.createServer((req, res) => {
    received.push(req.url ?? '');
    if (req.url === '/hang') return; // never answers
    if (req.url?.startsWith('/slow')) return void setTimeout(() => res.writeHead(204).end(), 150);
    res.writeHead(204).end();
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  let secretFailures = 0;
  const deps: DeliveryDeps = {
    config: {
      notificationUrl: undefined,
      webhookSecret: undefined,
      timeoutMs: 500,
      backoffMs: [100, 200],
      deadLetterRetryMs: 1_000,
    },
    secretOf: async () => {
      if (secretFailures > 0) {
        secretFailures--;
        throw new Error('PostgreSQL unreachable');
      }
      return 'sub-secret';
    },
    deadLetter: async () => {},
    post: postWebhook,
    circuit: new CircuitBreaker({ failureThreshold: 5, openMs: 1_000 }),
    terminate: () => {},
    metrics: { outcome: () => {}, attempt: () => {} },
    log: createLogger('notifier', 'test', 'silent'),
  };
  const delivery = (path: string): WebhookDelivery => ({
    tenant: 'default' as TenantId,
    eventId: `evt-${path}`,
    eventType: 'command.completed',
    url: `${url}${path}`,
    subscriptionId: 'sub',
    payload: { ok: true },
    createdAt: Date.now(),
  });

  it('delivers once, and a duplicate of a delivered msgId is not posted again', async () => {
    const first = new FirstAttempts(deps, firstAttemptLimits(4));
    expect(await first.deliver(delivery('/a'), 'evt-a:sub')).toBe('done');
    expect(await first.deliver(delivery('/a'), 'evt-a:sub')).toBe('done');
    expect(received.filter((p) => p === '/a')).toHaveLength(1);
  });

  it('forgets a msgId whose attempt failed transiently, so the redelivered source tries again', async () => {
    const first = new FirstAttempts(deps, firstAttemptLimits(4));
    secretFailures = 1;
    await expect(first.deliver(delivery('/b'), 'evt-b:sub')).rejects.toThrow('PostgreSQL unreachable');
    expect(await first.deliver(delivery('/b'), 'evt-b:sub')).toBe('done');
    expect(received.filter((p) => p === '/b')).toHaveLength(1);
  });

  it('reports a timed-out attempt for retry; a delivery waiting for its slot is then queued without an attempt', async () => {
    const first = new FirstAttempts(deps, { ...firstAttemptLimits(1), maxInFlightPerHost: 1 });
    const hanging = first.deliver(delivery('/hang'), 'evt-hang:sub');
    const waiting = first.deliver(delivery('/c'), 'evt-c:sub');
    expect(await hanging).toBe('retry');
    expect(await waiting).toBe('queue');
    expect(received).not.toContain('/c');
  });

  it('waits for a slot when the host is healthy instead of queueing', async () => {
    const first = new FirstAttempts(
      { ...deps, circuit: new CircuitBreaker({ failureThreshold: 5, openMs: 1_000 }) },
      {
        ...firstAttemptLimits(1),
        maxWaiting: 1,
      },
    );
    const slow = first.deliver(delivery('/slow-1'), 'evt-slow-1:sub');
    const waiting = first.deliver(delivery('/d'), 'evt-d:sub');
    // The one waiting place is taken: the next delivery is queued at once, without an attempt.
    expect(await first.deliver(delivery('/e'), 'evt-e:sub')).toBe('queue');
    expect(await slow).toBe('done');
    expect(await waiting).toBe('done');
    expect(received).toContain('/d');
    expect(received).not.toContain('/e');
  });

  it('queues a delivery that waited longer than maxWaitMs for its slot, without an attempt', async () => {
    const first = new FirstAttempts(
      { ...deps, circuit: new CircuitBreaker({ failureThreshold: 5, openMs: 1_000 }) },
      {
        ...firstAttemptLimits(1),
        maxWaitMs: 50,
      },
    );
    const slow = first.deliver(delivery('/slow-2'), 'evt-slow-2:sub');
    expect(await first.deliver(delivery('/f'), 'evt-f:sub')).toBe('queue');
    expect(await slow).toBe('done');
    // The slot it gave up on still serves the next delivery.
    expect(await first.deliver(delivery('/g'), 'evt-g:sub')).toBe('done');
    expect(received).not.toContain('/f');
  });
});
