-- Log bundles uploaded by devices (the seed's send_logs). The bytes live in the NATS object store
-- bucket named by the JetStream topology (objectStores.deviceLogs); this table is the index the API
-- lists and serves downloads from.
create table device_logs (
  tenant_id text not null,
  id text not null check (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  device_id text not null,
  file_name text not null,
  content_type text not null,
  size_bytes bigint not null check (size_bytes >= 0),
  sha256 text not null,
  object_name text not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, device_id) references devices (tenant_id, id) on delete cascade
);

create index device_logs_device_idx on device_logs (tenant_id, device_id, created_at desc);
