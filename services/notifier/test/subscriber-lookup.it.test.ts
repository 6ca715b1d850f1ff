import { createLogger, migrate, type Sql } from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { createTestEnv, testSql } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookStore } from '../src/adapters/webhook-store.ts';
import { SubscriberLookup, type TenantSubscription } from '../src/subscriber-lookup.ts';

describe('subscriber lookup: one query for the events that arrive together (real PostgreSQL)', () => {
  let sql: Sql;
  let store: WebhookStore;

  const subscribe = (tenant: string, id: string, events: string[], enabled = true) =>
    sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events, enabled)
        values (${tenant}, ${id}, ${`http://hosts.test/${id}`}, 'secret', ${events}, ${enabled})`;

  beforeAll(async () => {
    const env = await createTestEnv('notifier_lookup');
    sql = testSql(env);
    await migrate(sql, migrations(), createLogger('lookup-test', 't', 'silent'));
    await sql`insert into tenants (id, name) values ('other', 'Other')`;
    store = new WebhookStore(sql);
    await subscribe('default', 'all-events', []);
    await subscribe('default', 'completed-only', ['command.completed']);
    await subscribe('default', 'disabled', [], false);
    await subscribe('other', 'failures', ['command.failed', 'command.expired']);
  });

  afterAll(() => sql?.end());

  /** The store, counting its queries; `gate` holds a query until it resolves. */
  function counted(gate?: Promise<void>) {
    const loads: string[][] = [];
    const load = async (tenants: string[]): Promise<TenantSubscription[]> => {
      loads.push(tenants);
      const rows = await store.subscriptionsOf(tenants);
      if (loads.length === 1) await gate;
      return rows;
    };
    return { loads, lookup: new SubscriberLookup(load) };
  }
  const ids = (targets: Array<{ id: string }>) => targets.map((t) => t.id);

  it('answers a burst of events of several tenants and types with one query, each with its own subscribers', async () => {
    const { loads, lookup } = counted();
    const asked = [
      ['default', 'command.completed'],
      ['default', 'command.failed'],
      ['other', 'command.failed'],
      ['other', 'command.completed'],
      ['default', 'telemetry'],
      ['nobody', 'command.completed'],
    ] as const;
    const answers = await Promise.all(asked.map(([tenant, type]) => lookup.subscribersOf(tenant, type)));
    expect(answers.map(ids)).toEqual([
      ['all-events', 'completed-only'],
      ['all-events'],
      ['failures'],
      [],
      ['all-events'],
      [],
    ]);
    expect(answers[0]![0]).toEqual({ id: 'all-events', url: 'http://hosts.test/all-events' });
    expect(loads).toHaveLength(1);
    expect([...loads[0]!].sort()).toEqual(['default', 'nobody', 'other']);
  });

  it('answers a lookup made while a query runs from the next query, which sees what was committed meanwhile', async () => {
    let release!: () => void;
    const { loads, lookup } = counted(
      new Promise<void>((r) => {
        release = r;
      }),
    );
    const early = lookup.subscribersOf('other', 'command.expired');
    await new Promise((r) => setTimeout(r, 50));
    await subscribe('other', 'expired-late', ['command.expired']);
    const late = lookup.subscribersOf('other', 'command.expired');
    release();
    expect(ids(await early)).toEqual(['failures']);
    expect(ids(await late)).toEqual(['expired-late', 'failures']);
    expect(loads).toHaveLength(2);
  });

  it('fails every lookup of a query that failed, and recovers with the next one', async () => {
    let fail = true;
    const lookup = new SubscriberLookup(async (tenants) => {
      if (fail) throw new Error('database unreachable');
      return store.subscriptionsOf(tenants);
    });
    const failed = await Promise.allSettled([
      lookup.subscribersOf('default', 'telemetry'),
      lookup.subscribersOf('other', 'telemetry'),
    ]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(ids(await lookup.subscribersOf('default', 'telemetry'))).toEqual(['all-events']);
  });
});
