-- Webhook subscriptions registered through the API. NOTIFICATION_URL (the seed gateway's single
-- target) is configuration, not a row.
create table webhook_subscriptions (
  tenant_id text not null references tenants (id),
  id text not null,
  url text not null,
  secret text not null,
  -- Event types this subscription receives, e.g. {command.completed, command.failed, telemetry}; empty = all.
  events text[] not null default '{}',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);

-- Deliveries that failed their last attempt: listed and replayed through the API.
create table webhook_dead_letters (
  tenant_id text not null,
  id text not null,
  event_id text not null,
  event_type text not null,
  target_url text not null,
  subscription_id text,
  path text not null,
  payload jsonb not null,
  attempts integer not null,
  last_error text not null,
  dead_at timestamptz not null default now(),
  replayed_at timestamptz,
  primary key (tenant_id, id)
);

create index webhook_dead_letters_open_idx on webhook_dead_letters (tenant_id, dead_at desc) where replayed_at is null;
