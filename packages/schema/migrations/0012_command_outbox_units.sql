-- The command ledger's outbox, one row per unit of work instead of one mark per transition row.
--
-- Until now every transition row was written with `published_at = null` and then UPDATEd once its
-- event was on JetStream: three extra row versions per command (heap, primary key and seq index
-- entries, WAL, later vacuum) — a fifth of the WAL the command path wrote. Now the statement that
-- writes transition rows also writes ONE `command_outbox` row listing their `seq`s; once every event
-- (and dispatch item) of that unit of work is stored, the row is deleted. The relay republishes the
-- transitions of rows older than its grace period, as before.
create table command_outbox (
  id bigserial primary key,
  -- The writing transaction's start, like `command_transitions.at`: the relay's grace counts from it.
  at timestamptz not null default now(),
  -- The `command_transitions.seq` of every row the unit wrote.
  seqs bigint[] not null
);

-- Rows the per-row outbox still had pending move over, one unit per transaction start.
insert into command_outbox (at, seqs)
  select at, array_agg(seq order by seq) from command_transitions where published_at is null group by at;

-- `published_at` is no longer written: new rows get '-infinity' (like rows older than 0006), so the
-- partial index of 0006 stays empty. Whether a row's event is pending is `command_outbox`'s business.
update command_transitions set published_at = '-infinity' where published_at is null;
alter table command_transitions alter column published_at set default '-infinity';
