-- API keys: several per tenant, stored as SHA-256 of the key (keys are long random strings, so a
-- plain hash is enough; the key itself is shown once).
create table api_keys (
  tenant_id text not null references tenants (id),
  id text not null,
  name text not null,
  key_hash text not null unique,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  primary key (tenant_id, id)
);

-- The command ledger: the truth about every command; JetStream only transports and retries.
create table commands (
  tenant_id text not null,
  id text not null check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  device_id text not null,
  -- What is sent: for trackers `codec12`/`codec14` with args.text; for WebSocket devices the command name.
  name text not null,
  args jsonb not null default '{}',
  -- The raw command text as the host gave it (seed API compatibility, response matching).
  command_text text,
  metadata jsonb not null default '{}',
  state text not null check (state in ('queued', 'sent', 'delivered', 'completed', 'failed', 'expired', 'superseded', 'cancelled')),
  attempts integer not null default 0,
  max_attempts integer not null check (max_attempts between 1 and 100),
  attempt_timeout_ms integer not null check (attempt_timeout_ms between 100 and 86400000),
  expires_at timestamptz not null,
  idempotency_key text,
  request_hash text,
  response text,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  finished_at timestamptz,
  primary key (tenant_id, id),
  foreign key (tenant_id, device_id) references devices (tenant_id, id) on delete cascade
);

create unique index commands_idempotency_idx on commands (tenant_id, idempotency_key) where idempotency_key is not null;
-- Open commands of a device in order: what goes out next, what a reply matches.
create index commands_open_idx on commands (tenant_id, device_id, created_at)
  where state in ('queued', 'sent', 'delivered');
-- The sweeper's scan for rows whose deadline passed.
create index commands_deadline_idx on commands (expires_at) where state in ('queued', 'sent', 'delivered');
create index commands_device_idx on commands (tenant_id, device_id, created_at desc);

-- Every transition, timestamped.
create table command_transitions (
  tenant_id text not null,
  command_id text not null,
  seq bigserial,
  state text not null,
  attempt integer not null default 0,
  at timestamptz not null default now(),
  detail text,
  primary key (tenant_id, command_id, seq),
  foreign key (tenant_id, command_id) references commands (tenant_id, id) on delete cascade
);
