-- Leases and workers, for a database that several worker processes share. A job
-- that a worker drives is leased to it until `expires_at`; a lease that runs out
-- lets another worker take the job over. SQLite serves one process only, but keeps
-- the same tables so that the store's statements mean the same on every database.

CREATE TABLE job_leases (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX job_leases_by_owner ON job_leases (owner);
CREATE INDEX job_leases_by_expiry ON job_leases (expires_at);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
