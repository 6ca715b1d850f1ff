-- Telemetry records from every kind of device, one row per record, partitioned by device time (UTC days).
-- The key comes from device data, so a retransmitted packet never creates a second row.
create table telemetry (
  tenant_id text not null,
  device_id text not null,
  device_time timestamptz not null,
  event_io integer not null default 0,
  received_at timestamptz not null,
  priority smallint,
  latitude double precision,
  longitude double precision,
  altitude integer,
  angle integer,
  satellites smallint,
  speed integer,
  io jsonb not null default '{}',
  attributes jsonb not null default '{}',
  source text not null,
  primary key (tenant_id, device_id, device_time, event_io)
) partition by range (device_time);

-- Records outside every daily partition (clock-less devices reporting 1970, far-future clocks) land here
-- rather than being refused; fw_ensure_telemetry_partition moves them when their day gets a partition.
create table telemetry_default partition of telemetry default;

create function fw_ensure_telemetry_partition(day date) returns void
language plpgsql as $$
declare
  part text := format('telemetry_%s', to_char(day, 'YYYYMMDD'));
  lo timestamptz := day::timestamp at time zone 'UTC';
  hi timestamptz := (day + 1)::timestamp at time zone 'UTC';
begin
  -- Instances of the telemetry service create partitions concurrently; one at a time.
  perform pg_advisory_xact_lock(hashtext('fw_telemetry_partitions'));
  if to_regclass(part) is not null then
    return;
  end if;
  execute format('create table %I (like telemetry including defaults including constraints)', part);
  execute format(
    'with moved as (delete from telemetry_default where device_time >= %L and device_time < %L returning *)
     insert into %I select * from moved', lo, hi, part);
  execute format('alter table telemetry attach partition %I for values from (%L) to (%L)', part, lo, hi);
end $$;

-- Drops daily partitions wholly before `day` (retention) and the default partition's rows before it.
create function fw_drop_telemetry_before(day date) returns integer
language plpgsql as $$
declare
  child record;
  dropped integer := 0;
begin
  perform pg_advisory_xact_lock(hashtext('fw_telemetry_partitions'));
  for child in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'telemetry'::regclass and c.relname ~ '^telemetry_\d{8}$'
      and to_date(substring(c.relname from 11), 'YYYYMMDD') < day
  loop
    execute format('drop table %I', child.relname);
    dropped := dropped + 1;
  end loop;
  delete from telemetry_default where device_time < (day::timestamp at time zone 'UTC');
  return dropped;
end $$;

-- The latest known state of each device: last position, merged attributes, when it was last heard from.
create table device_state (
  tenant_id text not null,
  device_id text not null,
  device_time timestamptz not null,
  received_at timestamptz not null,
  latitude double precision,
  longitude double precision,
  altitude integer,
  angle integer,
  satellites smallint,
  speed integer,
  attributes jsonb not null default '{}',
  updated_at timestamptz not null default now(),
  primary key (tenant_id, device_id),
  foreign key (tenant_id, device_id) references devices (tenant_id, id) on delete cascade
);
