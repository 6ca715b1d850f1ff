-- Every table carries the tenant: isolation is part of the key, never an afterthought.
create table tenants (
  id text primary key check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  name text not null,
  created_at timestamptz not null default now()
);

insert into tenants (id, name) values ('default', 'Default tenant');

-- The device registry, shared by both transports: Teltonika trackers (id = IMEI) and WebSocket devices.
create table devices (
  tenant_id text not null references tenants (id),
  id text not null check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  kind text not null check (kind in ('tracker', 'ws')),
  name text,
  tags text[] not null default '{}',
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id)
);

create index devices_tags_idx on devices using gin (tags);
