-- Jobs, the quota ledger, per-guild configuration, and run-time statistics.
-- Times are UTC seconds since the epoch (REAL).

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'generate' CHECK (kind IN ('generate', 'retry', 'remix')),
    parent_id TEXT REFERENCES jobs(id),
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    upload_limit INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT,
    model TEXT NOT NULL,
    seconds INTEGER NOT NULL,
    aspect TEXT NOT NULL,
    seed INTEGER,
    image_url TEXT,
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'submitting', 'running', 'fetching', 'delivering', 'delivered', 'canceled', 'failed')),
    lane INTEGER NOT NULL DEFAULT 0,
    sched_tag REAL NOT NULL DEFAULT 0,
    weight REAL NOT NULL DEFAULT 1,
    max_running INTEGER NOT NULL DEFAULT 1,
    cost_seconds INTEGER NOT NULL,
    backend TEXT NOT NULL,
    backend_job_id TEXT,
    backend_data TEXT NOT NULL DEFAULT '{}',
    progress REAL,
    provider_queue_position INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result_path TEXT,
    result_url TEXT,
    failure TEXT,
    failure_detail TEXT,
    status_channel_id INTEGER,
    status_message_id INTEGER,
    result_message_id INTEGER
);
CREATE INDEX jobs_by_state ON jobs (state);
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);
CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at);
-- A double click on Retry must not make two jobs: one unfinished retry per parent.
CREATE UNIQUE INDEX jobs_one_open_retry ON jobs (parent_id)
    WHERE kind = 'retry' AND state NOT IN ('delivered', 'canceled', 'failed');

-- Every quota change is a row. reserve (+) at enqueue; release (-) of the whole
-- reservation at settle, failure or cancel; charge (+) of the actual seconds at
-- delivery. All rows of a job carry the job's creation time as window_at, so a
-- job counts in the day and month it was asked for.
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    guild_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    model TEXT NOT NULL,
    entry TEXT NOT NULL CHECK (entry IN ('reserve', 'release', 'charge')),
    seconds INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    cost REAL NOT NULL DEFAULT 0,
    window_at REAL NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX ledger_by_user ON ledger (guild_id, user_id, window_at);
CREATE INDEX ledger_by_guild ON ledger (guild_id, window_at);
CREATE INDEX ledger_by_job ON ledger (job_id);

CREATE TABLE tiers (
    guild_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    daily_seconds INTEGER NOT NULL,
    monthly_seconds INTEGER NOT NULL,
    max_running INTEGER NOT NULL,
    max_queued INTEGER NOT NULL,
    max_clip_seconds INTEGER NOT NULL,
    weight REAL NOT NULL,
    relax_allowed INTEGER NOT NULL,
    PRIMARY KEY (guild_id, name)
);

CREATE TABLE role_tiers (
    guild_id INTEGER NOT NULL,
    role_id INTEGER NOT NULL,
    tier_name TEXT NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

CREATE TABLE user_tiers (
    guild_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    tier_name TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_settings (
    guild_id INTEGER PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0,
    daily_budget_seconds INTEGER,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    admins_exempt INTEGER NOT NULL DEFAULT 0,
    enabled_models TEXT,      -- JSON list; NULL means every configured model
    allowed_channels TEXT     -- JSON list; NULL means every channel
);

CREATE TABLE blocklist (
    guild_id INTEGER NOT NULL,
    pattern TEXT NOT NULL,
    is_regex INTEGER NOT NULL,
    PRIMARY KEY (guild_id, pattern, is_regex)
);

CREATE TABLE model_stats (
    model TEXT PRIMARY KEY,
    avg_run_seconds REAL NOT NULL,
    samples INTEGER NOT NULL
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
