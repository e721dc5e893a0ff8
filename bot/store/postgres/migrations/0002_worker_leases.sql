-- Leases and workers, for a database that several worker processes share (the same
-- tables as the SQLite store's migration 0003). A job that a worker drives is leased
-- to it until `expires_at`; a lease that runs out lets another worker take the job over.

CREATE TABLE job_leases (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    owner TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX job_leases_by_owner ON job_leases (owner);
CREATE INDEX job_leases_by_expiry ON job_leases (expires_at);

CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
