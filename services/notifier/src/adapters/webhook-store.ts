import type { Sql } from '@fleetwire/runtime';
import type { TenantSubscription } from '../subscriber-lookup.ts';

export interface DeadLetter {
  tenant: string;
  id: string;
  eventId: string;
  eventType: string;
  targetUrl: string;
  subscriptionId: string | undefined;
  payload: Record<string, unknown>;
  attempts: number;
  lastError: string;
}

/** webhook_subscriptions (written by the API) and webhook_dead_letters (written here, replayed by the API). */
export class WebhookStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Every enabled subscription of these tenants, with the event types it wants, ordered by id. */
  async subscriptionsOf(tenants: readonly string[]): Promise<TenantSubscription[]> {
    return this.#sql<TenantSubscription[]>`
      select tenant_id as tenant, id, url, events from webhook_subscriptions
      where tenant_id = any(${this.#sql.array(tenants as string[])}::text[]) and enabled
      order by id`;
  }

  /** The signing secret of an enabled subscription; undefined when it was deleted or disabled. */
  async secretOf(tenant: string, subscriptionId: string): Promise<string | undefined> {
    const rows = await this.#sql<{ secret: string }[]>`
      select secret from webhook_subscriptions
      where tenant_id = ${tenant} and id = ${subscriptionId} and enabled`;
    return rows[0]?.secret;
  }

  /**
   * One row per delivery (the id is derived from event and target): a redelivered last attempt
   * updates the row, and a replay that fails again reopens it.
   */
  async deadLetter(d: DeadLetter): Promise<void> {
    const path = URL.canParse(d.targetUrl) ? new URL(d.targetUrl).pathname : '';
    await this.#sql`
      insert into webhook_dead_letters
        (tenant_id, id, event_id, event_type, target_url, subscription_id, path, payload, attempts, last_error)
      values (${d.tenant}, ${d.id}, ${d.eventId}, ${d.eventType}, ${d.targetUrl}, ${d.subscriptionId ?? null},
              ${path}, ${this.#sql.json(d.payload as never)}, ${d.attempts}, ${d.lastError})
      on conflict (tenant_id, id) do update set
        payload = excluded.payload, attempts = excluded.attempts, last_error = excluded.last_error,
        dead_at = now(), replayed_at = null`;
  }
}
