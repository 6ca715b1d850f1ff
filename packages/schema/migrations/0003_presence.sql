-- Connection state per device as last reported by an edge. `epoch` orders connections across edges:
-- an "offline" from an old connection (lower epoch) never overrides a newer "online".
create table device_presence (
  tenant_id text not null,
  device_id text not null,
  state text not null check (state in ('online', 'offline')),
  epoch bigint not null,
  edge_id text not null,
  transport text not null check (transport in ('tcp', 'ws')),
  remote_address text,
  changed_at timestamptz not null,
  reason text,
  primary key (tenant_id, device_id),
  foreign key (tenant_id, device_id) references devices (tenant_id, id) on delete cascade
);
