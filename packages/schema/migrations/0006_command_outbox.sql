-- Transactional outbox for the command ledger. Every transition row is written in the same
-- transaction as the state change; `published_at` says whether its CommandStateChange (and the
-- dispatch item it implies) reached JetStream. null = not yet: the ledger marks rows right after
-- publishing them, and the command service's relay republishes rows still unmarked after a grace
-- period (a process that died between commit and publish).
--
-- Rows written before this migration were handled by the old publish-after-commit path: they count
-- as published. The constant default is stored once in the catalogue (no table rewrite); dropping it
-- afterwards makes every new row start unpublished.
alter table command_transitions add column published_at timestamptz default '-infinity';
alter table command_transitions alter column published_at drop default;

-- The relay's scan, oldest first. Tiny: a row leaves it as soon as it is marked.
create index command_transitions_unpublished_idx on command_transitions (at, seq) where published_at is null;
