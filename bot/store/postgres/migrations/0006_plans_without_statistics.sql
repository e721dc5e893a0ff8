-- Indexes that leave the planner one right choice even before the tables have
-- statistics. A new database (and every bench run) works for its first minute or
-- more before autovacuum's first ANALYZE, and without statistics every condition
-- gets a default selectivity, so two indexes that both match two conditions look
-- the same: a member's usage sums then walked the guild's ledger index, and a
-- member's latest job the guild's job index, both growing with the guild
-- (docs/operations.md, 2026-12-01).

-- A member's usage: keyed by member; the statement filters the guild with an
-- expression the guild's index cannot serve, so this is the only index it matches.
DROP INDEX ledger_by_user;
CREATE INDEX ledger_by_member ON ledger (user_id, window_at) INCLUDE (guild_id, seconds, jobs);

-- A member's latest job, newest first with arrival breaking ties: read in index order,
-- where the guild's index would need a sort.
DROP INDEX jobs_by_user;
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at, seq);

