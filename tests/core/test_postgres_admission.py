"""Two processes admitting jobs for the same member at the same moment on one PostgreSQL
database: two Cores, each with its own pool and database thread, so their transactions
really overlap, as two gateways' would."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from pydantic import SecretStr

from bot.core import Core
from bot.domain.jobs import JobState
from bot.jobs.refusal import Refusal
from bot.quotas import ledger
from bot.quotas.service import Member
from bot.store.opening import open_store
from bot.store.transaction import Tx
from tests.core.conftest import GUILD, CoreHarness, origin, request

LetGo = Callable[[int], Awaitable[None]]
LOCK_WAIT_SECONDS = 30.0


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


async def test_the_server_passes_no_spending_budget_when_two_processes_admit_two_members_at_once(
    postgres_url: str, tmp_path: Path, small_clip: Path
) -> None:
    harnesses = await two_cores(postgres_url, tmp_path, small_clip, default_max_queued=10, default_daily_seconds=1000)
    try:
        cores = [harness.core for harness in harnesses if harness.core is not None]
        # 5.00 a day, 4.00 of it spent; each 2 s clip costs 1.00 at the harness's 0.5 a second.
        await cores[0].guilds.set_budgets(GUILD, daily_budget_micros=5_000_000)
        assert await enqueue_many(cores[0], 30, 4) == 4
        # Both members' enqueues reach their processes while their admissions are held, so the
        # two transactions are open together: only the guild's lock keeps the second from
        # reading the spending before the first's reservation is committed.
        async with held_admissions(postgres_url, GUILD, (31, 32)) as let_go:
            pairs = zip(cores, (31, 32), strict=True)
            racing = [asyncio.ensure_future(enqueue_many(core, user, 1)) for core, user in pairs]
            await let_go(2)
        assert sum(await asyncio.gather(*racing)) == 1
        jobs = await cores[1].store.read(lambda tx: tx.jobs_in_states([JobState.QUEUED]))
        assert sum(job.cost_micros for job in jobs) == 5_000_000
        assert await cores[0].store.read(ledger.mismatches) == []
    finally:
        for harness in harnesses:
            await harness.close()


async def test_two_processes_retrying_one_job_at_once_make_one_retry(
    postgres_url: str, tmp_path: Path, small_clip: Path
) -> None:
    harnesses = await two_cores(postgres_url, tmp_path, small_clip, default_max_queued=10, default_daily_seconds=1000)
    try:
        cores = [harness.core for harness in harnesses if harness.core is not None]
        parent = (await cores[0].jobs.enqueue(origin(3), request(seconds=2), Member(3))).job
        await cores[0].store.write(lambda tx: tx.move_job(parent, JobState.FAILED, 1.0, failure="timed_out"))
        # Both clicks reach the two processes while the member's admissions are held, so both
        # wait at the lock and then run one after the other: one makes the retry, one finds it
        # (the second's insert, had it looked before the lock, meets the unique index and its
        # batch runs again, now seeing the first's retry).
        async with held_admissions(postgres_url, GUILD, (3,)) as let_go:
            clicks = [
                asyncio.ensure_future(core.jobs.retry(parent.id, Member(3), channel_id=1, upload_limit=10 << 20))
                for core in cores
            ]
            await let_go(2)
        retries = await asyncio.gather(*clicks)
        assert retries[0].job.id == retries[1].job.id
        assert sorted(retry.duplicate for retry in retries) == [False, True]
    finally:
        for harness in harnesses:
            await harness.close()


@asynccontextmanager
async def held_admissions(url: str, guild: int, users: Iterable[int]) -> AsyncIterator[LetGo]:
    """Holds the members' admission locks in a transaction of its own until `let_go(count)` is awaited,
    which first waits until `count` transactions wait for an advisory lock: they are then open together."""
    holder = await open_store(url)
    acquired, release = threading.Event(), threading.Event()

    def hold(tx: Tx) -> None:
        for user in users:
            tx.lock_admission(guild, user, whole_guild=False)
        acquired.set()
        release.wait(LOCK_WAIT_SECONDS)

    held = asyncio.ensure_future(holder.write(hold))

    async def let_go(count: int) -> None:
        await asyncio.to_thread(_until_waiting_for_advisory_locks, url, count)
        release.set()
        await held

    try:
        assert await asyncio.to_thread(acquired.wait, LOCK_WAIT_SECONDS), "the admission locks were never held"
        yield let_go
    finally:
        release.set()
        await asyncio.gather(held, return_exceptions=True)
        await holder.close()


def _until_waiting_for_advisory_locks(url: str, count: int) -> None:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    with psycopg.connect(url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"fewer than {count} transactions ever waited for an advisory lock")
