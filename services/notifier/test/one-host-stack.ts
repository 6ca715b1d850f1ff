import { jetStreamTopology } from '@fleetwire/protocol';
import {
  type HeldSubject,
  listHeldSubjects,
  type RunningService,
  type Sql,
  startService,
} from '@fleetwire/runtime';
import {
  connectTestNats,
  createTestEnv,
  type ReceivedRequest,
  type TestEnv,
  testSql,
  WebhookReceiver,
} from '@fleetwire/testkit';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';
import { notifier } from '../src/main.ts';
import { publishCompleted } from './command-changes.ts';

/** Where tenant `acme`'s one webhook subscription points on `host`. */
export const ACME_PATH = '/acme';

/**
 * Real NATS and PostgreSQL, `instances` notifiers with `backoff`, and one webhook receiver that
 * tenant `acme` subscribes to: the setup of the held-retry tests about a single host.
 */
export class OneHostStack {
  readonly host = new WebhookReceiver();
  readonly instances: Array<RunningService<typeof notifier.config>> = [];
  env!: TestEnv;
  sql!: Sql;
  nc!: NatsConnection;
  js!: JetStreamClient;
  jsm!: JetStreamManager;

  async start(name: string, opts: { instances: number; backoff: string }): Promise<void> {
    this.env = await createTestEnv(name);
    await this.host.listen();
    const serviceEnv = this.env.serviceEnv({ FW_WEBHOOK_BACKOFF: opts.backoff, FW_WEBHOOK_TIMEOUT: '2s' });
    for (let i = 0; i < opts.instances; i++) this.instances.push(await startService(notifier, serviceEnv));
    this.sql = testSql(this.env);
    this.nc = await connectTestNats(this.env);
    this.js = jetstream(this.nc);
    this.jsm = await jetstreamManager(this.nc);
    await this.sql`insert into tenants (id, name) values ('acme', 'acme')`;
    await this.sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events)
                   values ('acme', 'hook', ${this.host.url(ACME_PATH)}, 'secret-acme', ${[]})`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((s) => s.stop()));
    await this.nc?.close();
    await this.sql?.end();
    await this.host.close();
  }

  get topology() {
    return jetStreamTopology({ root: this.env.subjectRoot });
  }

  get notifyStream(): string {
    return this.topology.streams.NOTIFY.name;
  }

  /** A `completed` outcome for `acme`; returns the event id its webhook carries. */
  publishCompleted(metadata: Record<string, unknown>): Promise<string> {
    return publishCompleted(this.js, this.topology.subjects, 'acme', metadata);
  }

  heldSubjects(): Promise<HeldSubject[]> {
    const { subjects } = this.topology;
    return listHeldSubjects(this.jsm, this.notifyStream, subjects, subjects.notifyHeldAll());
  }

  async heldCount(): Promise<number> {
    return (await this.heldSubjects()).reduce((sum, h) => sum + h.count, 0);
  }

  /** What the host received since `sinceMs`. */
  receivedSince(sinceMs: number): ReceivedRequest[] {
    return this.host.to(ACME_PATH).filter((r) => r.at >= sinceMs);
  }
}

export const eventIdOf = (r: ReceivedRequest) => r.headers['x-fleetwire-event-id'] as string;

/** Every one of `eventIds`, and nothing else, among `received`, each exactly once. */
export function expectEachOnce(received: readonly ReceivedRequest[], eventIds: readonly string[]): void {
  const perEvent = new Map<string, number>();
  for (const r of received) perEvent.set(eventIdOf(r), (perEvent.get(eventIdOf(r)) ?? 0) + 1);
  expect([...perEvent.keys()].sort()).toEqual([...eventIds].sort());
  expect([...perEvent.values()].filter((n) => n > 1)).toEqual([]);
}
