-- The presence reaper (telemetry) asks, every few seconds, which edges hold online devices and since
-- when: only online rows are indexed, so the answer reads that small set, not every device.
create index device_presence_online_by_edge on device_presence (edge_id, changed_at) where state = 'online';
