-- Jobs, the quota ledger, per-guild configuration, and run-time statistics: the
-- SQLite store's schema (bot/store/sqlite/migrations) in PostgreSQL's types.
-- Times are UTC seconds since the epoch (DOUBLE PRECISION); Discord ids are BIGINT.

CREATE TABLE jobs (
    -- Insertion order, which SQLite's rowid gives for free.
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'generate' CHECK (kind IN ('generate', 'retry', 'remix')),
    parent_id TEXT REFERENCES jobs(id),
    guild_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    upload_limit BIGINT NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT,
    model TEXT NOT NULL,
    seconds INTEGER NOT NULL,
    aspect TEXT NOT NULL,
    seed BIGINT,
    image_url TEXT,
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'submitting', 'running', 'fetching', 'delivering', 'delivered', 'canceled', 'failed')),
    lane INTEGER NOT NULL DEFAULT 0,
    sched_tag DOUBLE PRECISION NOT NULL DEFAULT 0,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1,
    max_running INTEGER NOT NULL DEFAULT 1,
    cost_seconds INTEGER NOT NULL,
    backend TEXT NOT NULL,
    backend_job_id TEXT,
    backend_data TEXT NOT NULL DEFAULT '{}',
    progress DOUBLE PRECISION,
    provider_queue_position INTEGER,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    result_path TEXT,
    result_url TEXT,
    failure TEXT,
    failure_detail TEXT,
    status_channel_id BIGINT,
    status_message_id BIGINT,
    result_message_id BIGINT
);
CREATE INDEX jobs_by_state ON jobs (state);
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at);
-- A double click on Retry must not make two jobs: one unfinished retry per parent.
CREATE UNIQUE INDEX jobs_one_open_retry ON jobs (parent_id)
    WHERE kind = 'retry' AND state NOT IN ('delivered', 'canceled', 'failed');
-- Only waiting jobs are in it: counting a member's skips their finished ones.
CREATE INDEX jobs_queued_by_user ON jobs (guild_id, user_id) WHERE state = 'queued';

-- Every quota change is a row (see the SQLite schema for the three kinds).
CREATE TABLE ledger (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    model TEXT NOT NULL,
    entry TEXT NOT NULL CHECK (entry IN ('reserve', 'release', 'charge')),
    seconds INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    window_at DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
-- The usage sums read the summed columns from the index, never the table.
CREATE INDEX ledger_by_user ON ledger (guild_id, user_id, window_at) INCLUDE (seconds, jobs);
CREATE INDEX ledger_by_guild ON ledger (guild_id, window_at) INCLUDE (seconds, jobs);

CREATE TABLE tiers (
    guild_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    daily_seconds INTEGER NOT NULL,
    monthly_seconds INTEGER NOT NULL,
    max_running INTEGER NOT NULL,
    max_queued INTEGER NOT NULL,
    max_clip_seconds INTEGER NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    relax_allowed BOOLEAN NOT NULL,
    PRIMARY KEY (guild_id, name)
);

CREATE TABLE role_tiers (
    guild_id BIGINT NOT NULL,
    role_id BIGINT NOT NULL,
    tier_name TEXT NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

CREATE TABLE user_tiers (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    tier_name TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_settings (
    guild_id BIGINT PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT false,
    daily_budget_seconds INTEGER,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    admins_exempt BOOLEAN NOT NULL DEFAULT false,
    enabled_models TEXT,      -- JSON list; NULL means every configured model
    allowed_channels TEXT     -- JSON list; NULL means every channel
);

CREATE TABLE blocklist (
    guild_id BIGINT NOT NULL,
    pattern TEXT NOT NULL,
    is_regex BOOLEAN NOT NULL,
    PRIMARY KEY (guild_id, pattern, is_regex)
);

-- Each process caches guild settings; a change anywhere gives the guild a new version
-- (from a sequence, never reused even by a rolled-back change), which every process
-- compares before trusting what it holds.
CREATE SEQUENCE guild_version_numbers;
CREATE TABLE guild_versions (
    guild_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE TABLE model_stats (
    model TEXT PRIMARY KEY,
    avg_run_seconds DOUBLE PRECISION NOT NULL,
    samples INTEGER NOT NULL
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
