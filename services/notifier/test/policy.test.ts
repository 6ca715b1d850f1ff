import type { CommandStateChange, TelemetrySummary } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../src/circuit.ts';
import {
  commandEvent,
  deliveryLogContext,
  seedDelivery,
  seedUrl,
  subscriptionDeliveries,
  telemetryEvent,
} from '../src/events.ts';
import { decide } from '../src/retry.ts';

const BACKOFF = [1_000, 5_000, 15_000];
const fail = { ok: false, error: 'HTTP 500', permanent: false } as const;

describe('retry policy', () => {
  it('acks success, NAKs with the scheduled delay, dead-letters after the last attempt', () => {
    expect(decide({ ok: true, status: 204 }, 1, BACKOFF)).toEqual({ action: 'ack' });
    expect(decide(fail, 1, BACKOFF)).toEqual({ action: 'retry', delayMs: 1_000 });
    expect(decide(fail, 3, BACKOFF)).toEqual({ action: 'retry', delayMs: 15_000 });
    expect(decide(fail, 4, BACKOFF)).toEqual({ action: 'dead-letter', reason: 'HTTP 500' });
    expect(decide(fail, 9, BACKOFF)).toMatchObject({ action: 'dead-letter' });
    expect(decide({ ...fail, permanent: true, error: 'HTTP 410' }, 1, BACKOFF)).toMatchObject({
      action: 'dead-letter',
    });
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, lets one probe through after the pause, closes on success', () => {
    let now = 0;
    const cb = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(cb.allow('h')).toBe(true);
      cb.record('h', false);
    }
    expect(cb.allow('h')).toBe(false);
    expect(cb.allow('other')).toBe(true);
    now = 1_000;
    expect(cb.allow('h')).toBe(true);
    expect(cb.allow('h')).toBe(false); // one probe at a time
    cb.record('h', false);
    expect(cb.allow('h')).toBe(false);
    now = 2_000;
    expect(cb.allow('h')).toBe(true);
    expect(cb.record('h', true)).toBe(true); // recovered: it had failed
    expect(cb.allow('h')).toBe(true);
    expect(cb.isOpen('h')).toBe(false);
    expect(cb.record('h', true)).toBe(false); // a success after successes is no recovery
  });
});

describe('events', () => {
  const change = {
    tenant: 'acme',
    deviceId: '350612345678901',
    commandId: 'c1',
    state: 'superseded',
    at: 0,
    command: 'getinfo',
    metadata: { a: { b: [1] } },
  } as unknown as CommandStateChange;
  const config = { notificationUrl: 'http://host/base/', telemetryWebhookEnabled: false };

  it('sends cancelled and superseded only to subscriptions, and progress states nowhere', () => {
    const event = commandEvent(change)!;
    expect(event).toMatchObject({ eventId: 'c1:superseded', eventType: 'command.superseded' });
    expect(seedUrl(config, event.eventType)).toBeUndefined();
    expect(commandEvent({ ...change, state: 'sent' })).toBeUndefined();
    expect(seedDelivery(event, config)).toBeUndefined();
    const planned = subscriptionDeliveries(event, [{ id: 's1', url: 'http://sub/x' }]);
    expect(planned.map((p) => p.msgId)).toEqual(['c1:superseded:sub:s1']);
    expect(seedDelivery(commandEvent({ ...change, state: 'completed' })!, config)).toMatchObject({
      msgId: 'c1:completed:notification_url',
      delivery: { url: 'http://host/base/webhooks/iot/v1/command/confirm' },
    });
    expect(deliveryLogContext(planned[0]!.delivery)).toMatchObject({
      commandId: 'c1',
      deviceId: '350612345678901',
      subscriptionId: 's1',
    });
  });

  it('joins NOTIFICATION_URL and seed paths without doubled slashes; telemetry only when enabled', () => {
    expect(seedUrl(config, 'command.completed')).toBe('http://host/base/webhooks/iot/v1/command/confirm');
    expect(seedUrl(config, 'command.expired')).toBe('http://host/base/webhooks/iot/v1/command/bulk_failure');
    expect(seedUrl(config, 'telemetry')).toBeUndefined();
    expect(seedUrl({ ...config, telemetryWebhookEnabled: true }, 'telemetry')).toBe(
      'http://host/base/webhooks/iot/v1/telemetry',
    );
    const summary = { tenant: 't', deviceId: 'd', recordCount: 1, latestTimestamp: 0, latestAttributes: {} };
    expect(telemetryEvent(summary as unknown as TelemetrySummary, 5).payload).toMatchObject({
      latestTimestamp: '1970-01-01T00:00:00.000Z',
      latestGps: null,
    });
  });
});
