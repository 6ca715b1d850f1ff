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
    config: { notificationUrl: undefined, webhookSecret: undefined, timeoutMs: 500, backoffMs: [100, 200] },
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

  it('queues without an attempt beyond the per-host limit, and reports a timed-out attempt for retry', async () => {
    const first = new FirstAttempts(deps, { ...firstAttemptLimits(1), maxInFlightPerHost: 1 });
    const hanging = first.deliver(delivery('/hang'), 'evt-hang:sub');
    expect(await first.deliver(delivery('/c'), 'evt-c:sub')).toBe('queue');
    expect(await hanging).toBe('retry');
    expect(received).not.toContain('/c');
  });
});
