import { randomBytes } from 'node:crypto';
import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';

export interface Subscription {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  createdAt: string;
}

export interface DeadLetter {
  id: string;
  eventId: string;
  eventType: string;
  targetUrl: string;
  subscriptionId: string | null;
  path: string;
  payload: Record<string, unknown>;
  attempts: number;
  lastError: string;
  deadAt: string;
  replayedAt: string | null;
}

function subscriptionView(r: postgres.Row): Subscription {
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    enabled: r.enabled,
    createdAt: (r.created_at as Date).toISOString(),
  };
}

export function deadLetterView(r: postgres.Row): DeadLetter {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    targetUrl: r.target_url,
    subscriptionId: r.subscription_id,
    path: r.path,
    payload: r.payload,
    attempts: r.attempts,
    lastError: r.last_error,
    deadAt: (r.dead_at as Date).toISOString(),
    replayedAt: r.replayed_at ? (r.replayed_at as Date).toISOString() : null,
  };
}

/** The outcome of a replay attempt, decided under the dead letter's row lock. */
export type ReplayOutcome =
  | { result: 'replayed'; deadLetter: DeadLetter }
  | { result: 'not-found' }
  | { result: 'already-replayed'; replayedAt: string };

/** Tables `webhook_subscriptions` and `webhook_dead_letters`, per tenant. */
export class WebhookStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  async create(tenant: string, s: { url: string; secret: string; events: string[] }): Promise<Subscription> {
    const sql = this.#sql;
    const id = `wh_${randomBytes(9).toString('base64url')}`;
    const [row] = await sql`
      insert into webhook_subscriptions (tenant_id, id, url, secret, events)
      values (${tenant}, ${id}, ${s.url}, ${s.secret}, ${s.events}::text[])
      returning *`;
    return subscriptionView(row!);
  }

  async list(tenant: string): Promise<Subscription[]> {
    const sql = this.#sql;
    const rows =
      await sql`select * from webhook_subscriptions where tenant_id = ${tenant} order by created_at, id`;
    return rows.map(subscriptionView);
  }

  async get(tenant: string, id: string): Promise<Subscription | undefined> {
    const sql = this.#sql;
    const [row] = await sql`select * from webhook_subscriptions where tenant_id = ${tenant} and id = ${id}`;
    return row ? subscriptionView(row) : undefined;
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    const sql = this.#sql;
    const rows =
      await sql`delete from webhook_subscriptions where tenant_id = ${tenant} and id = ${id} returning id`;
    return rows.length > 0;
  }

  /** Newest first; up to `limit + 1` rows, so the caller can tell whether more follow. */
  async deadLetters(
    tenant: string,
    opts: { limit: number; before?: { deadAt: string; id: string }; replayed?: boolean },
  ): Promise<{ item: DeadLetter; key: [string, string] }[]> {
    const sql = this.#sql;
    const rows = await sql`
      select *, dead_at::text as dead_at_key from webhook_dead_letters
      where tenant_id = ${tenant}
      ${opts.replayed === undefined ? sql`` : opts.replayed ? sql`and replayed_at is not null` : sql`and replayed_at is null`}
      ${opts.before ? sql`and (dead_at, id) < (${opts.before.deadAt}::timestamptz, ${opts.before.id})` : sql``}
      order by dead_at desc, id desc
      limit ${opts.limit + 1}`;
    return rows.map((r) => ({ item: deadLetterView(r), key: [r.dead_at_key, r.id] }));
  }

  /**
   * Replays one dead letter: under its row lock, `publish` runs (and must have its PubAck) before
   * the row is marked, so a concurrent replay waits and then finds it replayed, and a failed publish
   * leaves it replayable.
   */
  async replay(
    tenant: string,
    id: string,
    publish: (deadLetter: DeadLetter) => Promise<void>,
  ): Promise<ReplayOutcome> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx`
        select * from webhook_dead_letters where tenant_id = ${tenant} and id = ${id} for update`;
      if (!row) return { result: 'not-found' } as const;
      if (row.replayed_at) {
        return { result: 'already-replayed', replayedAt: (row.replayed_at as Date).toISOString() } as const;
      }
      await publish(deadLetterView(row));
      const [marked] = await tx`
        update webhook_dead_letters set replayed_at = now()
        where tenant_id = ${tenant} and id = ${id} returning *`;
      return { result: 'replayed', deadLetter: deadLetterView(marked!) } as const;
    });
  }
}
