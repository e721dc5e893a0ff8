-- Every enqueue reads a member's usage and counts their waiting jobs. Both reads
-- must stay short however long the member's history grows.

-- The usage sums read the summed columns from the index, never the table.
DROP INDEX ledger_by_user;
CREATE INDEX ledger_by_user ON ledger (guild_id, user_id, window_at, seconds, jobs);
DROP INDEX ledger_by_guild;
CREATE INDEX ledger_by_guild ON ledger (guild_id, window_at, seconds, jobs);

-- Only waiting jobs are in it: counting them skips the member's finished ones.
CREATE INDEX jobs_queued_by_user ON jobs (guild_id, user_id) WHERE state = 'queued';
