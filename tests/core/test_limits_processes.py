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
import random
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import Core
from bot.domain.jobs import ACTIVE_STATES, JobRequest, JobState, Origin
from bot.quotas.service import Member
from tests.core.crash_child import CATALOG, CHANNEL, GUILD, MODEL, UPLOAD_LIMIT
from tests.core.crash_servers import CrashFal
from tests.core.crash_worker import WorkerConfig
from tests.core.test_crash_workers import STATUS_MESSAGES, Lives
from tests.discord.rest_stand_in import DiscordRestStandIn
from tests.postgres_cluster import PostgresCluster

WORKERS = 3
MAX_JOBS = 2  # per worker: together more than the limits allow, so the limits are what holds them
FINISH_TIMEOUT = 120.0
ACTIVE = tuple(state.value for state in ACTIVE_STATES)


def live_workers(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT COUNT(*) FROM workers").fetchone()
    return int(row[0]) if row else 0


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
    url = postgres_cluster.new_database("limits")
    provider = CrashFal(small_clip.read_bytes(), random.Random(len(jobs_per_member)))
    discord_api = DiscordRestStandIn(answer_delay=0.02)
    await provider.start()
    await discord_api.start()
    catalog = folder / "footage.toml"
    catalog.write_text(CATALOG, encoding="utf-8")
    config = WorkerConfig(
        database_url=url, media_dir=str(folder / "clips"), catalog=str(catalog), provider_url=provider.base_url,
        discord_api=discord_api.api_base, lease_seconds=30.0, max_jobs=MAX_JOBS,
    )  # fmt: skip
    config.save(folder / "workers.json")
    gateway = await Core.open(config.settings(), gateway=True)
    member_limit = config.settings().default_max_running
    spec = gateway.catalog.get(MODEL)
    assert spec is not None
    together_limit = min(config.settings().guild_max_running, spec.max_concurrency)
    lives: Lives | None = None
    try:
        await gateway.start()
        lives = await Lives.start(folder / "workers.json")
        for _ in range(WORKERS):
            await lives.spawn()
        # Every worker alive and looking before the jobs arrive: the wake-up reaches them all at once.
        started = time.monotonic()
        while (alive := await asyncio.to_thread(live_workers, url)) < WORKERS:
            assert time.monotonic() - started < FINISH_TIMEOUT, f"only {alive} workers started"
            await asyncio.sleep(0.05)
        jobs = []
        for member, count in enumerate(jobs_per_member, start=1):
            for index in range(count):
                request = JobRequest(prompt=f"member {member} clip {index}", model=MODEL, seconds=2, aspect="16:9")
                queued = await gateway.jobs.enqueue(
                    Origin(GUILD, CHANNEL, member, UPLOAD_LIMIT), request, Member(member)
                )
                await gateway.jobs.attach_status(queued.job.id, CHANNEL, STATUS_MESSAGES + len(jobs))
                jobs.append(queued.job)
        snapshots = 0
        deadline = time.monotonic() + FINISH_TIMEOUT
        while time.monotonic() < deadline:
            counts = await asyncio.to_thread(active_counts, url)
            snapshots += 1
            assert all(count <= member_limit for _, count in counts), counts
            assert sum(count for _, count in counts) <= together_limit, counts
            stored = await gateway.store.read(lambda tx: tx.jobs_in_states(list(JobState)))
            if all(job.state.finished for job in stored):
                break
            await asyncio.sleep(0.01)
        stored = await gateway.store.read(lambda tx: tx.jobs_in_states(list(JobState)))
        assert Counter(job.state for job in stored) == {JobState.DELIVERED: len(jobs)}
        assert sorted(provider.submits.values()) == [1] * len(jobs)  # each prompt submitted once
        if sum(min(count, member_limit) for count in jobs_per_member) > MAX_JOBS:
            # The limits let more run at once than one worker takes: the others claimed too.
            assert len(set(lives.claimed_by.values())) > 1, lives.claimed_by
        assert snapshots > 1
    finally:
        if lives is not None:
            await lives.close()
        await gateway.close()
        await discord_api.stop()
        await provider.stop()
        postgres_cluster.drop_database(url)
