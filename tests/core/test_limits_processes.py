"""The running limits hold with three worker processes claiming from one PostgreSQL database.

For a mix of members' jobs drawn by hypothesis, a gateway in this process enqueues
them and three real worker processes (tests/core/crash_worker.py: the real
`run_worker`, against the loopback fal fake and Discord stand-in) claim and drive them
at once. Meanwhile this process reads the active jobs over and over, each read one
snapshot of the database: none may show a member past the tier's running limit, the
guild past GUILD_MAX_RUNNING or the model past its concurrency (the workers' settings
and catalog). Every job is delivered
once, and more than one process did the claiming (else nothing was tested).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.jobs import ACTIVE_STATES, JobState
from tests.core.crash_child import MODEL
from tests.core.worker_fleet import worker_fleet
from tests.postgres_cluster import PostgresCluster

WORKERS = 3
MAX_JOBS = 2  # per worker: together more than the limits allow, so the limits are what holds them
FINISH_TIMEOUT = 120.0
ACTIVE = tuple(state.value for state in ACTIVE_STATES)


def active_counts(url: str) -> list[tuple[int, int]]:
    """(member, active jobs) in one snapshot."""
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT user_id, COUNT(*) FROM jobs WHERE state = ANY(%s) GROUP BY user_id", (list(ACTIVE),)
        ).fetchall()
    return [(int(user), int(count)) for user, count in rows]


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jobs_per_member=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4))
async def test_three_worker_processes_together_keep_every_running_limit(
    postgres_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
    small_clip: Path,
    jobs_per_member: list[int],
) -> None:
    folder = tmp_path_factory.mktemp("limits")
    fleet_size = {"workers": WORKERS, "max_jobs": MAX_JOBS, "seed": len(jobs_per_member)}
    async with worker_fleet(postgres_cluster, folder, small_clip, **fleet_size) as fleet:
        settings_ = fleet.config.settings()
        member_limit = settings_.default_max_running
        spec = fleet.gateway.catalog.get(MODEL)
        assert spec is not None
        together_limit = min(settings_.guild_max_running, spec.max_concurrency)
        jobs = [
            await fleet.enqueue(member, 2, f"member {member} clip {index}")
            for member, count in enumerate(jobs_per_member, start=1)
            for index in range(count)
        ]
        snapshots = 0
        deadline = time.monotonic() + FINISH_TIMEOUT
        while time.monotonic() < deadline:
            counts = await asyncio.to_thread(active_counts, fleet.url)
            snapshots += 1
            assert all(count <= member_limit for _, count in counts), counts
            assert sum(count for _, count in counts) <= together_limit, counts
            if all(job.state.finished for job in await fleet.stored()):
                break
            await asyncio.sleep(0.01)
        stored = await fleet.stored()
        assert Counter(job.state for job in stored) == {JobState.DELIVERED: len(jobs)}
        assert sorted(fleet.provider.submits.values()) == [1] * len(jobs)  # each prompt submitted once
        if sum(min(count, member_limit) for count in jobs_per_member) > MAX_JOBS:
            # The limits let more run at once than one worker takes: the others claimed too.
            assert len(set(fleet.lives.claimed_by.values())) > 1, fleet.lives.claimed_by
        assert snapshots > 1
