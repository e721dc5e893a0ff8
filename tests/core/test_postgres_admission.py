"""Two processes admitting jobs for the same member at the same moment on one PostgreSQL
database: two Cores, each with its own pool and database thread, so their transactions
really overlap, as two gateways' would."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from bot.core import Core
from bot.domain.jobs import JobState
from bot.jobs.refusal import Refusal
from bot.quotas import ledger
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, origin, request


async def two_cores(postgres_url: str, tmp_path: Path, clip: Path, **overrides: object) -> list[CoreHarness]:
    harnesses = [CoreHarness(tmp_path / name, clip) for name in ("gateway-a", "gateway-b")]
    for harness in harnesses:
        await harness.open(start=False, database_url=SecretStr(postgres_url), **overrides)
    return harnesses


async def enqueue_many(core: Core, user: int, count: int) -> int:
    """Enqueue `count` jobs for `user` at once; how many were admitted."""

    async def one() -> bool:
        try:
            await core.jobs.enqueue(origin(user), request(seconds=2), Member(user))
        except Refusal:
            return False
        return True

    return sum(await asyncio.gather(*(one() for _ in range(count))))


async def test_no_member_passes_the_waiting_limit_when_two_processes_enqueue_at_once(
    postgres_url: str, tmp_path: Path, small_clip: Path
) -> None:
    harnesses = await two_cores(postgres_url, tmp_path, small_clip, default_max_queued=3, default_daily_seconds=1000)
    try:
        cores = [harness.core for harness in harnesses]
        assert cores[0] is not None and cores[1] is not None
        for user in range(1, 6):
            admitted = await asyncio.gather(*(enqueue_many(core, user, 8) for core in cores if core is not None))
            assert sum(admitted) == 3, f"member {user}: {admitted} admitted by the two processes"
            assert await cores[0].store.read(lambda tx, user=user: tx.count_queued_jobs(GUILD, user)) == 3
        assert await cores[0].store.read(ledger.mismatches) == []
    finally:
        for harness in harnesses:
            await harness.close()


async def test_no_member_passes_the_daily_quota_when_two_processes_enqueue_at_once(
    postgres_url: str, tmp_path: Path, small_clip: Path
) -> None:
    harnesses = await two_cores(postgres_url, tmp_path, small_clip, default_max_queued=50, default_daily_seconds=10)
    try:
        cores = [harness.core for harness in harnesses if harness.core is not None]
        admitted = await asyncio.gather(*(enqueue_many(core, 7, 8) for core in cores))
        assert sum(admitted) == 5  # 10 s a day, 2 s a clip
        jobs = await cores[1].store.read(lambda tx: tx.jobs_in_states([JobState.QUEUED]))
        assert sum(job.cost_seconds for job in jobs) == 10
    finally:
        for harness in harnesses:
            await harness.close()
