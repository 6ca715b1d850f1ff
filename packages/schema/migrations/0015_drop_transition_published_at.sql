-- `command_transitions.published_at` (0006) has not been written since 0012 moved publishing to
-- `command_outbox`: every row since holds the '-infinity' default, 8 bytes per transition for nothing,
-- and its partial index stays empty. Code from 0012 on never reads it, so instances of that age keep
-- working while this runs. Dropping a column only changes the catalog; the index goes with it.
alter table command_transitions drop column published_at;
