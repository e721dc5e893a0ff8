-- The virtual time a runner (or a gateway) starts from is the largest tag among the
-- normal-lane jobs that left the queue (`highest_started_tag`). Without an index that
-- MAX read every job ever stored, so each start cost more as the history grew. With
-- this one it walks back from the largest tag and stops at the first job that is not
-- waiting: it passes only the waiting normal-lane jobs queued after that one
-- (docs/operations.md, 2026-12-01). A job's lane and tag never change once it is
-- stored, so a state move leaves this index alone.
CREATE INDEX jobs_normal_lane_by_tag ON jobs (sched_tag) WHERE lane = 0;
