-- Whether the job's clip has sound: the requester's choice on a model that can switch it,
-- else the model's when the job was queued; NULL for jobs queued before it was kept
-- (the SQLite store's migration 0005).
ALTER TABLE jobs ADD COLUMN audio BOOLEAN;
