-- Every statement the SQLite store runs, by name (read by bot/store/queries.py).
-- `{job_columns}` is the job row's column list (bot/store/rows.py); a slot such as
-- `{marks}` or `{assignments}` is filled per call. Times are epoch seconds (REAL).

-- name: create_migrations_table
-- The table that records which numbered migrations ran.
CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)

-- name: applied_migrations
-- Versions already applied.
SELECT version FROM schema_migrations

-- name: record_migration
-- Mark one migration applied, in the transaction that ran it.
INSERT INTO schema_migrations (version, name) VALUES (?, ?)

-- name: insert_job
-- A new job, every column.
INSERT INTO jobs ({job_columns}) VALUES ({job_marks})

-- name: get_job
-- One job by id.
SELECT {job_columns} FROM jobs WHERE id = ?

-- name: move_job
-- A state move (state, updated_at, then the changed columns), only from the state the caller holds; returns what others may have changed.
UPDATE jobs SET {assignments}
WHERE id = ? AND state = ? RETURNING status_channel_id, status_message_id, result_message_id

-- name: update_job
-- Change a job's mutable columns (updated_at first) without moving it.
UPDATE jobs SET {assignments} WHERE id = ?

-- name: jobs_in_states
-- Jobs in any of `{marks}` states, in insertion order (recovery, dispatch at start).
SELECT {job_columns} FROM jobs WHERE state IN ({marks}) ORDER BY rowid

-- name: waiting_after
-- The waiting jobs after a place in insertion order, only the columns the fair queue keeps (recovery reads them a page at a time).
SELECT rowid, id, guild_id, user_id, lane, sched_tag, model, backend, max_running FROM jobs
WHERE state = 'queued' AND rowid > ? ORDER BY rowid LIMIT ?

-- name: start_job
-- A waiting job starts: moved to submitting if it still waits, and read back whole (the queue kept only its entry).
UPDATE jobs SET state = 'submitting', updated_at = ? WHERE id = ? AND state = 'queued' RETURNING {job_columns}

-- name: waiting_job_ids
-- The ids of the waiting jobs, no more: what a gateway compares its queue with.
SELECT id FROM jobs WHERE state = 'queued'

-- name: waiting_by_ids
-- The waiting jobs among `{marks}` ids, the columns waiting_after reads, in insertion order.
SELECT rowid, id, guild_id, user_id, lane, sched_tag, model, backend, max_running FROM jobs
WHERE state = 'queued' AND id IN ({marks}) ORDER BY rowid

-- name: highest_started_tag
-- The largest fair-queue tag among normal-lane jobs that left the queue (the virtual time at start), from the top of jobs_normal_lane_by_tag.
SELECT MAX(sched_tag) FROM jobs WHERE lane = 0 AND state != 'queued'

-- name: latest_share
-- A member's latest job that counts in the fair queue: one canceled before it ran does not.
SELECT sched_tag, cost_seconds, weight FROM jobs WHERE guild_id = ? AND user_id = ?
AND NOT (state = 'canceled' AND started_at IS NULL) ORDER BY created_at DESC, rowid DESC LIMIT 1

-- name: count_user_jobs
-- A member's jobs in any of `{marks}` states.
SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND state IN ({marks})

-- name: count_queued_jobs
-- A member's waiting jobs; the state is written out so the waiting-jobs index serves it.
SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND state = 'queued'

-- name: open_retry
-- The unfinished retry of a job, if any (one at most, by a unique index).
SELECT {job_columns} FROM jobs
WHERE parent_id = ? AND kind = 'retry' AND state NOT IN ('delivered', 'canceled', 'failed')

-- name: user_jobs
-- A member's latest jobs, newest first.
SELECT {job_columns} FROM jobs WHERE guild_id = ? AND user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?

-- name: user_open_jobs
-- A member's latest unfinished jobs, newest first.
SELECT {job_columns} FROM jobs WHERE guild_id = ? AND user_id = ? AND state NOT IN ('delivered', 'canceled', 'failed')
ORDER BY created_at DESC, rowid DESC LIMIT ?

-- name: guild_open_jobs
-- A guild's unfinished jobs, oldest first.
SELECT {job_columns} FROM jobs WHERE guild_id = ? AND state NOT IN ('delivered', 'canceled', 'failed')
ORDER BY rowid LIMIT ?

-- name: add_ledger
-- Ledger rows for one job, `{rows}` of them in one statement.
INSERT INTO ledger (job_id, guild_id, user_id, model, entry, seconds, jobs, cost_micros, window_at, at) VALUES {rows}

-- name: user_usage
-- A member's day and month usage in one pass over their rows in the month (day twice, then month).
SELECT COALESCE(SUM(CASE WHEN window_at >= ? AND window_at < ? THEN seconds END), 0),
       COALESCE(SUM(CASE WHEN window_at >= ? AND window_at < ? THEN jobs END), 0),
       COALESCE(SUM(seconds), 0), COALESCE(SUM(jobs), 0)
FROM ledger WHERE guild_id = ? AND user_id = ? AND window_at >= ? AND window_at < ?

-- name: guild_usage
-- A guild's usage in one window: seconds, jobs and money.
SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(jobs), 0), COALESCE(SUM(cost_micros), 0) FROM ledger
WHERE guild_id = ? AND window_at >= ? AND window_at < ?

-- name: job_ledgers
-- Every job beside the sum of its ledger rows and of its charges, in seconds and money (the ledger check).
SELECT jobs.id, jobs.state, jobs.cost_seconds,
       COALESCE(totals.seconds, 0) AS ledger_seconds, COALESCE(totals.charged, 0) AS charged,
       jobs.cost_micros, COALESCE(totals.micros, 0) AS ledger_micros,
       COALESCE(totals.charged_micros, 0) AS charged_micros
FROM jobs LEFT JOIN (
    -- One pass over the ledger, grouped: it has no index by job (see migration 0002).
    SELECT job_id, SUM(seconds) AS seconds, SUM(CASE WHEN entry = 'charge' THEN seconds END) AS charged,
           SUM(cost_micros) AS micros, SUM(CASE WHEN entry = 'charge' THEN cost_micros END) AS charged_micros
    FROM ledger GROUP BY job_id
) AS totals ON totals.job_id = jobs.id

-- name: usage_rows
-- Charged seconds, jobs and cost per member and model since a time, the most seconds first.
SELECT user_id, model, SUM(seconds), SUM(jobs), SUM(cost_micros) FROM ledger
WHERE guild_id = ? AND entry = 'charge' AND window_at >= ?
GROUP BY user_id, model ORDER BY SUM(seconds) DESC

-- name: tiers
-- A guild's tiers.
SELECT name, daily_seconds, monthly_seconds, max_running, max_queued, max_clip_seconds, weight, relax_allowed
FROM tiers WHERE guild_id = ? ORDER BY name

-- name: upsert_tier
-- Create or replace a tier.
INSERT OR REPLACE INTO tiers (guild_id, name, daily_seconds, monthly_seconds, max_running, max_queued,
                              max_clip_seconds, weight, relax_allowed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: unmap_tier_roles
-- Roles mapped to a tier being deleted.
DELETE FROM role_tiers WHERE guild_id = ? AND tier_name = ?

-- name: unmap_tier_users
-- Member overrides naming a tier being deleted.
DELETE FROM user_tiers WHERE guild_id = ? AND tier_name = ?

-- name: delete_tier
-- A tier itself.
DELETE FROM tiers WHERE guild_id = ? AND name = ?

-- name: role_tiers
-- Which tier each role of a guild maps to.
SELECT role_id, tier_name FROM role_tiers WHERE guild_id = ?

-- name: set_role_tier
-- Map a role to a tier.
INSERT OR REPLACE INTO role_tiers (guild_id, role_id, tier_name) VALUES (?, ?, ?)

-- name: clear_role_tier
-- Remove a role's mapping.
DELETE FROM role_tiers WHERE guild_id = ? AND role_id = ?

-- name: user_tiers
-- Member tier overrides of a guild.
SELECT user_id, tier_name FROM user_tiers WHERE guild_id = ?

-- name: set_user_tier
-- Override a member's tier.
INSERT OR REPLACE INTO user_tiers (guild_id, user_id, tier_name) VALUES (?, ?, ?)

-- name: clear_user_tier
-- Remove a member's override.
DELETE FROM user_tiers WHERE guild_id = ? AND user_id = ?

-- name: guild_settings
-- A guild's settings row (absent until an admin changes one).
SELECT paused, daily_budget_seconds, timezone, admins_exempt, enabled_models, allowed_channels,
       daily_budget_micros, monthly_budget_micros
FROM guild_settings WHERE guild_id = ?

-- name: blocklist
-- A guild's blocked prompt patterns.
SELECT pattern, is_regex FROM blocklist WHERE guild_id = ? ORDER BY pattern

-- name: ensure_guild_settings
-- The guild's settings row with its defaults, if it has none yet.
INSERT OR IGNORE INTO guild_settings (guild_id) VALUES (?)

-- name: update_guild_settings
-- Set the guild settings named in `{assignments}`.
UPDATE guild_settings SET {assignments} WHERE guild_id = ?

-- name: paused_guilds
-- Guilds whose queue is paused.
SELECT guild_id FROM guild_settings WHERE paused = 1

-- name: add_block
-- Block a prompt pattern (adding it twice is one rule).
INSERT OR IGNORE INTO blocklist (guild_id, pattern, is_regex) VALUES (?, ?, ?)

-- name: remove_block
-- Unblock a pattern, plain or regex.
DELETE FROM blocklist WHERE guild_id = ? AND pattern = ?

-- name: get_meta
-- One process-wide value by key.
SELECT value FROM meta WHERE key = ?

-- name: set_meta
-- Set a process-wide value.
INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)

-- name: model_run_times
-- Every model's measured average run time.
SELECT model, avg_run_seconds FROM model_stats

-- name: save_model_run_time
-- Record a model's average run time and how many runs it is over.
INSERT OR REPLACE INTO model_stats (model, avg_run_seconds, samples) VALUES (?, ?, ?)

-- name: waiting_jobs
-- A page of the waiting jobs in fair order (lane, tag, arrival): what a claim chooses from.
SELECT {job_columns} FROM jobs WHERE state = 'queued' ORDER BY lane, sched_tag, rowid LIMIT ? OFFSET ?

-- name: grant_lease
-- Lease a job to a worker until a time (a claim, or a takeover of a lease that ran out).
INSERT INTO job_leases (job_id, owner, expires_at) VALUES (?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at

-- name: hold_lease
-- Extend a worker's lease on one job, only if the worker still holds it (the fence on every checkpoint).
UPDATE job_leases SET expires_at = ? WHERE job_id = ? AND owner = ?

-- name: drop_lease
-- A finished job needs no lease.
DELETE FROM job_leases WHERE job_id = ?

-- name: renew_leases
-- Extend every lease a worker holds; the jobs still held, with their state (a cancel shows here).
UPDATE job_leases SET expires_at = ? WHERE owner = ?
RETURNING job_id, (SELECT state FROM jobs WHERE jobs.id = job_leases.job_id)

-- name: expired_leases
-- Active jobs whose lease ran out (and whose it was), or that have none: a dead worker's, to take over.
SELECT {job_columns}, job_leases.owner FROM jobs LEFT JOIN job_leases ON job_leases.job_id = jobs.id
WHERE jobs.state IN ('submitting', 'running', 'fetching', 'delivering')
AND (job_leases.expires_at IS NULL OR job_leases.expires_at < ?)
ORDER BY jobs.rowid LIMIT ?

-- name: worker_seen
-- A worker says it is alive.
INSERT INTO workers (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at

-- name: live_workers
-- How many workers said they were alive since a time (they share Discord's limits).
SELECT COUNT(*) FROM workers WHERE seen_at >= ?

-- name: forget_worker
-- A worker that stops cleanly leaves the count at once.
DELETE FROM workers WHERE id = ?
