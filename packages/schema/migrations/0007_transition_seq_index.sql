-- Marking outbox rows published looks them up by `seq` (a bigserial, unique across the table).
-- Without an index of its own that lookup was a sequential scan of a table that grows with every
-- command, which made PostgreSQL the bottleneck of the command pipeline.
create unique index command_transitions_seq_idx on command_transitions (seq);
