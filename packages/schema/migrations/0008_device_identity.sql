-- Identity of WebSocket devices: a credential per device (shown once, stored as SHA-256: it is a long
-- random string, so no salt or KDF is needed), fleet provisioning keys that may register new devices
-- on first contact, and short-lived device sessions that every edge-ws instance can check.

alter table devices
  add column credential_hash text unique,
  add column credential_issued_at timestamptz,
  -- What the device reported at its last session start: serial, MAC, local IP, firmware, model.
  add column identity jsonb not null default '{}';

-- Per-fleet heartbeat for WebSocket devices; null = the edge's default (FW_WS_HEARTBEAT, 5 s).
alter table tenants
  add column ws_heartbeat_ms integer check (ws_heartbeat_ms between 1000 and 600000);

create table provisioning_keys (
  tenant_id text not null references tenants (id),
  id text not null,
  name text not null,
  key_hash text not null unique,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  primary key (tenant_id, id)
);

-- No foreign key to devices on purpose: a session of a deleted device must still be found, so the
-- edge can say "device deprovisioned" instead of "unknown session".
create table device_sessions (
  id text primary key,
  tenant_id text not null references tenants (id),
  device_id text not null,
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  identity jsonb not null default '{}'
);

create index device_sessions_device_idx on device_sessions (tenant_id, device_id);
create index device_sessions_expiry_idx on device_sessions (expires_at);
