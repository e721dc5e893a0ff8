-- Indexes for the path every job takes. An enqueue reads a member's usage and
-- counts their waiting jobs: both must stay short however long the member's
-- history grows. And every index costs each write that touches it.

-- The usage sums read the summed columns from the index, never the table.
DROP INDEX ledger_by_user;
CREATE INDEX ledger_by_user ON ledger (guild_id, user_id, window_at, seconds, jobs);
DROP INDEX ledger_by_guild;
CREATE INDEX ledger_by_guild ON ledger (guild_id, window_at, seconds, jobs);

-- Only waiting jobs are in it: counting them skips the member's finished ones.
CREATE INDEX jobs_queued_by_user ON jobs (guild_id, user_id) WHERE state = 'queued';

-- Only the ledger check read the ledger by job, and it reads all of it in one
-- grouped pass; three index entries per job cost every enqueue and delivery.
DROP INDEX ledger_by_job;
