-- Every statement the PostgreSQL store runs, by name (read by bot/store/queries.py).
-- `{job_columns}` is the job row's column list (bot/store/rows.py); a slot such as
-- `{marks}` or `{assignments}` is filled per call. Parameters are %s (psycopg), so a
-- literal percent sign is written %%. Times are epoch seconds (DOUBLE PRECISION).

-- name: lock_migrations
-- One process at a time applies migrations (two starting together would race), until commit.
SELECT pg_advisory_xact_lock(hashtextextended('footage-bot migrations', 0))

-- name: create_migrations_table
-- The table that records which numbered migrations ran.
CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)

-- name: applied_migrations
-- Versions already applied.
SELECT version FROM schema_migrations

-- name: record_migration
-- Mark one migration applied, in the transaction that ran it.
INSERT INTO schema_migrations (version, name) VALUES (%s, %s)

-- name: insert_job
-- A new job, every column.
INSERT INTO jobs ({job_columns}) VALUES ({job_marks})

-- name: get_job
-- One job by id.
SELECT {job_columns} FROM jobs WHERE id = %s

-- name: move_job
-- A state move (state, updated_at, then the changed columns), only from the state the caller holds; returns what others may have changed.
UPDATE jobs SET {assignments}
WHERE id = %s AND state = %s RETURNING status_channel_id, status_message_id, result_message_id

-- name: move_jobs
-- Several jobs from one state to another with no other change (a claim), those still in it.
UPDATE jobs SET state = %s, updated_at = %s WHERE id = ANY(%s) AND state = %s
RETURNING id, status_channel_id, status_message_id, result_message_id

-- name: update_job
-- Change a job's mutable columns (updated_at first) without moving it.
UPDATE jobs SET {assignments} WHERE id = %s

-- name: jobs_in_states
-- Jobs in any of `{marks}` states, in insertion order (recovery, dispatch at start).
SELECT {job_columns} FROM jobs WHERE state IN ({marks}) ORDER BY seq

-- name: waiting_after
-- The waiting jobs after a place in insertion order, only the columns the fair queue keeps (recovery reads them a page at a time).
SELECT seq, id, guild_id, user_id, lane, sched_tag, model, backend, max_running FROM jobs
WHERE state = 'queued' AND seq > %s ORDER BY seq LIMIT %s

-- name: start_job
-- A waiting job starts: moved to submitting if it still waits, and read back whole (the queue kept only its entry).
UPDATE jobs SET state = 'submitting', updated_at = %s WHERE id = %s AND state = 'queued' RETURNING {job_columns}

-- name: waiting_job_ids
-- The ids of the waiting jobs, no more: what a gateway compares its queue with.
SELECT id FROM jobs WHERE state = 'queued'

-- name: waiting_by_ids
-- The waiting jobs among `{marks}` ids, the columns waiting_after reads, in insertion order.
SELECT seq, id, guild_id, user_id, lane, sched_tag, model, backend, max_running FROM jobs
WHERE state = 'queued' AND id IN ({marks}) ORDER BY seq

-- name: highest_started_tag
-- The largest fair-queue tag among normal-lane jobs that left the queue (the virtual time at start), from the top of jobs_normal_lane_by_tag.
SELECT MAX(sched_tag) FROM jobs WHERE lane = 0 AND state != 'queued'

-- name: latest_share
-- A member's latest job that counts in the fair queue: one canceled before it ran does not.
SELECT sched_tag, cost_seconds, weight FROM jobs WHERE guild_id = %s AND user_id = %s
AND NOT (state = 'canceled' AND started_at IS NULL) ORDER BY created_at DESC, seq DESC LIMIT 1

-- name: count_user_jobs
-- A member's jobs in any of `{marks}` states.
SELECT COUNT(*) FROM jobs WHERE guild_id = %s AND user_id = %s AND state IN ({marks})

-- name: count_queued_jobs
-- A member's waiting jobs; the state is written out so the waiting-jobs index serves it.
SELECT COUNT(*) FROM jobs WHERE guild_id = %s AND user_id = %s AND state = 'queued'

-- name: open_retry
-- The unfinished retry of a job, if any (one at most, by a unique index).
SELECT {job_columns} FROM jobs
WHERE parent_id = %s AND kind = 'retry' AND state NOT IN ('delivered', 'canceled', 'failed')

-- name: user_jobs
-- A member's latest jobs, newest first.
SELECT {job_columns} FROM jobs WHERE guild_id = %s AND user_id = %s ORDER BY created_at DESC, seq DESC LIMIT %s

-- name: user_open_jobs
-- A member's latest unfinished jobs, newest first.
SELECT {job_columns} FROM jobs WHERE guild_id = %s AND user_id = %s AND state NOT IN ('delivered', 'canceled', 'failed')
ORDER BY created_at DESC, seq DESC LIMIT %s

-- name: guild_open_jobs
-- A guild's unfinished jobs, oldest first.
SELECT {job_columns} FROM jobs WHERE guild_id = %s AND state NOT IN ('delivered', 'canceled', 'failed')
ORDER BY seq LIMIT %s

-- name: add_ledger
-- Ledger rows for one job, `{rows}` of them in one statement.
INSERT INTO ledger (job_id, guild_id, user_id, model, entry, seconds, jobs, cost_micros, window_at, at) VALUES {rows}

-- name: user_usage
-- A member's day and month usage in one pass over their rows in the month (day twice, then month).
-- `guild_id + 0`: a condition the guild's index cannot serve, so only the member's index matches,
-- with or without statistics, prepared or not (migration 0006).
SELECT COALESCE(SUM(CASE WHEN window_at >= %s AND window_at < %s THEN seconds END), 0),
       COALESCE(SUM(CASE WHEN window_at >= %s AND window_at < %s THEN jobs END), 0),
       COALESCE(SUM(seconds), 0), COALESCE(SUM(jobs), 0)
FROM ledger WHERE guild_id + 0 = %s AND user_id = %s AND window_at >= %s AND window_at < %s

-- name: guild_usage
-- A guild's usage in one window: seconds, jobs and money.
SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(jobs), 0), COALESCE(SUM(cost_micros), 0) FROM ledger
WHERE guild_id = %s AND window_at >= %s AND window_at < %s

-- name: job_ledgers
-- Every job beside the sum of its ledger rows and of its charges, in seconds and money (the ledger check).
SELECT jobs.id, jobs.state, jobs.cost_seconds,
       COALESCE(totals.seconds, 0) AS ledger_seconds, COALESCE(totals.charged, 0) AS charged,
       jobs.cost_micros, COALESCE(totals.micros, 0) AS ledger_micros,
       COALESCE(totals.charged_micros, 0) AS charged_micros
FROM jobs LEFT JOIN (
    -- One pass over the ledger, grouped: it has no index by job (every index costs each write).
    SELECT job_id, SUM(seconds) AS seconds, SUM(CASE WHEN entry = 'charge' THEN seconds END) AS charged,
           SUM(cost_micros) AS micros, SUM(CASE WHEN entry = 'charge' THEN cost_micros END) AS charged_micros
    FROM ledger GROUP BY job_id
) AS totals ON totals.job_id = jobs.id

-- name: usage_rows
-- Charged seconds, jobs and cost per member and model since a time, the most seconds first.
SELECT user_id, model, SUM(seconds), SUM(jobs), SUM(cost_micros) FROM ledger
WHERE guild_id = %s AND entry = 'charge' AND window_at >= %s
GROUP BY user_id, model ORDER BY SUM(seconds) DESC

-- name: tiers
-- A guild's tiers.
SELECT name, daily_seconds, monthly_seconds, max_running, max_queued, max_clip_seconds, weight, relax_allowed
FROM tiers WHERE guild_id = %s ORDER BY name

-- name: upsert_tier
-- Create or replace a tier.
INSERT INTO tiers (guild_id, name, daily_seconds, monthly_seconds, max_running, max_queued,
                   max_clip_seconds, weight, relax_allowed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (guild_id, name) DO UPDATE SET daily_seconds = EXCLUDED.daily_seconds,
    monthly_seconds = EXCLUDED.monthly_seconds, max_running = EXCLUDED.max_running,
    max_queued = EXCLUDED.max_queued, max_clip_seconds = EXCLUDED.max_clip_seconds,
    weight = EXCLUDED.weight, relax_allowed = EXCLUDED.relax_allowed

-- name: unmap_tier_roles
-- Roles mapped to a tier being deleted.
DELETE FROM role_tiers WHERE guild_id = %s AND tier_name = %s

-- name: unmap_tier_users
-- Member overrides naming a tier being deleted.
DELETE FROM user_tiers WHERE guild_id = %s AND tier_name = %s

-- name: delete_tier
-- A tier itself.
DELETE FROM tiers WHERE guild_id = %s AND name = %s

-- name: role_tiers
-- Which tier each role of a guild maps to.
SELECT role_id, tier_name FROM role_tiers WHERE guild_id = %s

-- name: set_role_tier
-- Map a role to a tier.
INSERT INTO role_tiers (guild_id, role_id, tier_name) VALUES (%s, %s, %s)
ON CONFLICT (guild_id, role_id) DO UPDATE SET tier_name = EXCLUDED.tier_name

-- name: clear_role_tier
-- Remove a role's mapping.
DELETE FROM role_tiers WHERE guild_id = %s AND role_id = %s

-- name: user_tiers
-- Member tier overrides of a guild.
SELECT user_id, tier_name FROM user_tiers WHERE guild_id = %s

-- name: set_user_tier
-- Override a member's tier.
INSERT INTO user_tiers (guild_id, user_id, tier_name) VALUES (%s, %s, %s)
ON CONFLICT (guild_id, user_id) DO UPDATE SET tier_name = EXCLUDED.tier_name

-- name: clear_user_tier
-- Remove a member's override.
DELETE FROM user_tiers WHERE guild_id = %s AND user_id = %s

-- name: guild_settings
-- A guild's settings row (absent until an admin changes one).
SELECT paused, daily_budget_seconds, timezone, admins_exempt, enabled_models, allowed_channels,
       daily_budget_micros, monthly_budget_micros
FROM guild_settings WHERE guild_id = %s

-- name: blocklist
-- A guild's blocked prompt patterns.
SELECT pattern, is_regex FROM blocklist WHERE guild_id = %s ORDER BY pattern

-- name: ensure_guild_settings
-- The guild's settings row with its defaults, if it has none yet.
INSERT INTO guild_settings (guild_id) VALUES (%s) ON CONFLICT DO NOTHING

-- name: update_guild_settings
-- Set the guild settings named in `{assignments}`.
UPDATE guild_settings SET {assignments} WHERE guild_id = %s

-- name: paused_guilds
-- Guilds whose queue is paused.
SELECT guild_id FROM guild_settings WHERE paused

-- name: add_block
-- Block a prompt pattern (adding it twice is one rule).
INSERT INTO blocklist (guild_id, pattern, is_regex) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING

-- name: remove_block
-- Unblock a pattern, plain or regex.
DELETE FROM blocklist WHERE guild_id = %s AND pattern = %s

-- name: get_meta
-- One process-wide value by key.
SELECT value FROM meta WHERE key = %s

-- name: set_meta
-- Set a process-wide value.
INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value

-- name: model_run_times
-- Every model's measured average run time.
SELECT model, avg_run_seconds FROM model_stats

-- name: save_model_run_time
-- Record a model's average run time and how many runs it is over.
INSERT INTO model_stats (model, avg_run_seconds, samples) VALUES (%s, %s, %s)
ON CONFLICT (model) DO UPDATE SET avg_run_seconds = EXCLUDED.avg_run_seconds, samples = EXCLUDED.samples

-- name: lock_member_admission
-- Hold a member's admissions in every process until commit (what an enqueue reads stays true).
SELECT pg_advisory_xact_lock(hashtextextended('admit:' || %s::text || ':' || %s::text, 0))

-- name: lock_guild_admission
-- Hold a whole guild's admissions in every process until commit (a guild-wide budget).
SELECT pg_advisory_xact_lock(hashtextextended('admit:' || %s::text, 0))

-- name: guild_version
-- The version of a guild's settings, to check a process's cached copy against.
SELECT version FROM guild_versions WHERE guild_id = %s

-- name: bump_guild_version
-- A guild's settings changed: a new version, so every process reloads them.
INSERT INTO guild_versions (guild_id, version) VALUES (%s, nextval('guild_version_numbers'))
ON CONFLICT (guild_id) DO UPDATE SET version = EXCLUDED.version

-- name: waiting_jobs
-- A page of the waiting jobs in fair order (lane, tag, arrival): what a claim chooses from.
SELECT {job_columns} FROM jobs WHERE state = 'queued' ORDER BY lane, sched_tag, seq LIMIT %s OFFSET %s

-- name: grant_lease
-- Lease a job to a worker until a time (a claim, or a takeover of a lease that ran out).
INSERT INTO job_leases (job_id, owner, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (job_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at

-- name: grant_leases
-- grant_lease for several jobs (an array of ids) in one statement.
INSERT INTO job_leases (job_id, owner, expires_at) SELECT job_id, %s, %s FROM unnest(%s::text[]) AS job_id
ON CONFLICT (job_id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at

-- name: hold_lease
-- Extend a worker's lease on one job, only if the worker still holds it (the fence on every checkpoint).
UPDATE job_leases SET expires_at = %s WHERE job_id = %s AND owner = %s

-- name: move_leased_job
-- A state move (as move_job) made only while `owner` holds the job's lease, which it extends, in one
-- statement: whether the lease was held, then the job's id and what move_job returns (NULLs: not moved).
WITH lease AS (UPDATE job_leases SET expires_at = %s WHERE job_id = %s AND owner = %s RETURNING job_id),
moved AS (
    UPDATE jobs SET {assignments} WHERE id = %s AND state = %s AND EXISTS (SELECT FROM lease)
    RETURNING id, status_channel_id, status_message_id, result_message_id
)
SELECT EXISTS (SELECT FROM lease), moved.* FROM (VALUES (1)) AS one LEFT JOIN moved ON true

-- name: move_released_job
-- The same for a move that finishes the job: the lease is given up instead of extended.
WITH lease AS (DELETE FROM job_leases WHERE job_id = %s AND owner = %s RETURNING job_id),
moved AS (
    UPDATE jobs SET {assignments} WHERE id = %s AND state = %s AND EXISTS (SELECT FROM lease)
    RETURNING id, status_channel_id, status_message_id, result_message_id
)
SELECT EXISTS (SELECT FROM lease), moved.* FROM (VALUES (1)) AS one LEFT JOIN moved ON true

-- name: release_lease
-- Give up a worker's lease on one job, only if the worker still holds it.
DELETE FROM job_leases WHERE job_id = %s AND owner = %s

-- name: drop_lease
-- A finished job needs no lease.
DELETE FROM job_leases WHERE job_id = %s

-- name: renew_leases
-- Extend every lease a worker holds; the jobs still held, with their state (a cancel shows here).
UPDATE job_leases SET expires_at = %s FROM jobs WHERE job_leases.owner = %s AND jobs.id = job_leases.job_id
RETURNING job_leases.job_id, jobs.state

-- name: expired_leases
-- Active jobs whose lease ran out (and whose it was), or that have none, oldest first; rows another
-- transaction holds are passed over.
SELECT {job_columns}, job_leases.owner FROM jobs LEFT JOIN job_leases ON job_leases.job_id = jobs.id
WHERE jobs.state IN ('submitting', 'running', 'fetching', 'delivering')
AND (job_leases.expires_at IS NULL OR job_leases.expires_at < %s)
ORDER BY jobs.seq LIMIT %s FOR UPDATE OF jobs SKIP LOCKED

-- name: lock_claims
-- One claim at a time across processes, until commit: each claim counts every process's running jobs.
-- Tried, never waited for: a claim waiting here would hold up every checkpoint in its batch.
SELECT pg_try_advisory_xact_lock(hashtextextended('footage-bot claims', 0))

-- name: notify
-- Tell the processes listening on a channel, when this transaction commits.
SELECT pg_notify(%s, %s)

-- name: worker_seen
-- A worker says it is alive.
INSERT INTO workers (id, seen_at) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at

-- name: live_workers
-- How many workers said they were alive since a time (they share Discord's limits).
SELECT COUNT(*) FROM workers WHERE seen_at >= %s

-- name: forget_worker
-- A worker that stops cleanly leaves the count at once.
DELETE FROM workers WHERE id = %s
