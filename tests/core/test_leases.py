"""Workers sharing one database: claims within every limit, leases, takeovers, fences.

Two `LeasedRunner`s share one store here, each with a lease clock the test sets, so a
lease runs out when the test says and not when the machine is slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.core import Core
from bot.domain.jobs import ACTIVE_STATES, FailureReason, Job, JobState
from bot.jobs.leases import LeasedRunner, WorkerIdentity
from bot.jobs.scheduler import FairQueue, RunTimes
from bot.quotas.service import Member
from bot.settings import Settings
from tests.core.conftest import GUILD, FakeClock, catalog, origin, request, settings_for
from tests.core.scripted import RecordingDeliverer, ScriptedBackend

LEASE = 2.0


class LeaseClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Workers:
    """One core (store, services) and any number of workers on its store."""

    def __init__(self, core: Core, backend: ScriptedBackend) -> None:
        self.core = core
        self.backend = backend
        self.deliverer = RecordingDeliverer()
        self.runners: dict[str, LeasedRunner] = {}
        self.clocks: dict[str, LeaseClock] = {}

    async def start(self, owner: str, *, max_jobs: int = 4) -> LeasedRunner:
        clock = self.clocks[owner] = LeaseClock()
        runner = LeasedRunner(
            self.core.store,
            FairQueue(),
            self.core.catalog,
            self.core.backends,
            self.core.events,
            RunTimes({}, {}),
            self.core.runner._clock,
            owner=owner,
            lease_seconds=LEASE,
            max_jobs=max_jobs,
            lease_clock=clock,
            media_dir=self.core.settings.media_dir,
            guild_max_running=self.core.settings.guild_max_running,
            job_timeout=self.core.settings.job_timeout_seconds,
            image_max_bytes=self.core.settings.image_max_bytes,
            encode_slots=self.core.encode_slots,
            wait=_direct,
        )
        runner.attach_deliverer(self.deliverer)
        await runner.start()
        self.runners[owner] = runner
        return runner

    async def kill(self, owner: str) -> None:
        """Stop driving without a word to the database, as SIGKILL would."""
        runner = self.runners.pop(owner)
        tasks = [task for task in (runner._loop_task, runner._renew_task, *runner._tasks.values()) if task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        for runner in self.runners.values():
            await runner.stop()
        self.runners.clear()

    async def jobs(self) -> list[Job]:
        return await self.core.store.read(lambda tx: tx.jobs_in_states(list(JobState)))


async def _direct(awaitable: Awaitable[object], reason: str) -> object:
    return await awaitable


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def workers(tmp_path: Path, small_clip: Path, store_url: str) -> AsyncIterator[Workers]:
    backend = ScriptedBackend(small_clip, auto_release=False)
    core = await Core.open(
        settings_for(tmp_path, default_max_running=1, default_max_queued=10, default_daily_seconds=1000,
                     default_monthly_seconds=10_000, guild_max_running=3, database_url=SecretStr(store_url)),
        clock=FakeClock(),
        backends={backend.name: backend},
        catalog=catalog(max_concurrency=4),
        worker=WorkerIdentity("enqueuer", lease_seconds=LEASE, max_jobs=0),
    )  # fmt: skip
    shared = Workers(core, backend)
    try:
        yield shared
    finally:
        await shared.stop()
        await core.close()


async def enqueue(workers: Workers, user: int, count: int = 1) -> list[Job]:
    return [(await workers.core.jobs.enqueue(origin(user), request(), Member(user))).job for _ in range(count)]


async def test_two_workers_together_keep_every_running_limit(workers: Workers) -> None:
    for user in (1, 2, 3, 4):
        await enqueue(workers, user, 3)
    await workers.start("a", max_jobs=2)
    await workers.start("b", max_jobs=2)

    async def settled() -> bool:
        active = [job for job in await workers.jobs() if job.state in ACTIVE_STATES]
        return len(active) == 3

    await until(settled, "the guild's three running slots are taken")
    await asyncio.sleep(0.3)  # a few more claim passes: none may start a fourth
    jobs = await workers.jobs()
    active = [job for job in jobs if job.state in ACTIVE_STATES]
    assert len(active) == 3  # GUILD_MAX_RUNNING
    assert len({job.user_id for job in active}) == 3  # one each: the tier's max_running
    # In fair order: each member's first job, the earliest members first.
    assert sorted(job.user_id for job in active) == [1, 2, 3]
    held = {owner: len(runner.running_jobs()) for owner, runner in workers.runners.items()}
    assert sum(held.values()) == 3 and max(held.values()) <= 2


async def test_a_dead_workers_job_is_polled_again_by_another_never_resubmitted(workers: Workers) -> None:
    (job,) = await enqueue(workers, 1)
    await workers.start("a")

    async def running() -> bool:
        current = await workers.core.jobs.get(job.id)
        return current is not None and current.state is JobState.RUNNING

    await until(running, "worker a has submitted the job")
    await workers.kill("a")
    b = await workers.start("b")
    await asyncio.sleep(0.3)
    assert b.running_jobs() == []  # a's lease has not run out yet
    workers.clocks["b"].now += LEASE  # now it has
    await until(lambda: _holds(b, job.id), "worker b takes the job over")
    workers.backend.script(job.id).release.set()
    await until(lambda: _in_state(workers, job.id, JobState.DELIVERED), "the job is delivered")
    assert workers.backend.submits == [job.id]  # once, by a
    assert [posted for posted, _ in workers.deliverer.posted] == [job.id]
    assert b.takeovers == 1
    assert await workers.core.reports.ledger_check() == []


async def test_a_worker_stores_the_download_step_for_the_gateways_to_read(workers: Workers) -> None:
    (job,) = await enqueue(workers, 1)
    script = workers.backend.script(job.id)
    script.fetch_release = asyncio.Event()
    await workers.start("a")
    script.release.set()

    async def stored_fetching() -> bool:
        stored = await workers.core.store.read(lambda tx: tx.get_job(job.id))
        return stored is not None and stored.state is JobState.FETCHING

    await until(stored_fetching, "the worker has stored that it downloads the clip")
    script.fetch_release.set()
    await until(lambda: _in_state(workers, job.id, JobState.DELIVERED), "the job is delivered")


async def test_a_full_worker_still_takes_a_dead_workers_job_over(workers: Workers) -> None:
    (first,) = await enqueue(workers, 1)
    await workers.start("a", max_jobs=1)
    await until(lambda: _in_state(workers, first.id, JobState.RUNNING), "worker a has submitted its job")
    (second,) = await enqueue(workers, 2)
    b = await workers.start("b", max_jobs=1)
    await until(lambda: _holds(b, second.id), "worker b is full with a job of its own")
    await workers.kill("a")
    workers.clocks["b"].now += LEASE
    await until(lambda: _holds(b, first.id), "worker b takes a's job over without waiting for a free slot")
    for job in (first, second):
        workers.backend.script(job.id).release.set()
    for job in (first, second):
        await until(lambda job=job: _in_state(workers, job.id, JobState.DELIVERED), "both jobs are delivered")
    assert sorted(workers.backend.submits) == sorted([first.id, second.id])  # each once
    assert b.takeovers == 1


async def test_a_worker_that_lost_its_lease_writes_nothing_more_and_stops(workers: Workers) -> None:
    (job,) = await enqueue(workers, 1)
    a = await workers.start("a")
    await until(lambda: _holds(a, job.id), "worker a drives the job")
    await until(lambda: _in_state(workers, job.id, JobState.RUNNING), "the job runs")
    # a stalls (its renewals stop reaching the database) and b takes the job over.
    assert a._renew_task is not None
    a._renew_task.cancel()
    b = await workers.start("b")
    workers.clocks["b"].now += LEASE
    await until(lambda: _holds(b, job.id), "worker b takes the job over")
    # a comes back and, say, gives up on the job: the write is refused, the job stays b's.
    current = await workers.core.jobs.get(job.id)
    assert current is not None
    await a._fail(current, FailureReason.TIMED_OUT, "a's own timeout")
    assert (await workers.core.jobs.get(job.id)).state is JobState.RUNNING  # type: ignore[union-attr]
    workers.backend.script(job.id).release.set()
    await until(lambda: _in_state(workers, job.id, JobState.DELIVERED), "the job is delivered")
    await a._renew()
    await until(lambda: _not_holding(a, job.id), "worker a stops driving the job")
    assert [posted for posted, _ in workers.deliverer.posted] == [job.id]
    assert workers.backend.canceled == []  # a never canceled b's job at the provider
    assert await workers.core.reports.ledger_check() == []


async def test_a_cancel_stored_by_another_process_stops_the_worker_and_the_provider_job(workers: Workers) -> None:
    (job,) = await enqueue(workers, 1)
    a = await workers.start("a")
    await until(lambda: _in_state(workers, job.id, JobState.RUNNING), "the job runs")
    # A gateway cancels: the stored state changes, and it tells the workers by notification.
    await workers.core.jobs.cancel(job.id, Member(1), origin(1).guild_id)
    a.on_control(job.id)
    await until(lambda: _not_holding(a, job.id), "worker a stops driving the job")
    await until(lambda: _canceled_at(workers), "the provider job is canceled")
    assert (await workers.core.jobs.get(job.id)).state is JobState.CANCELED  # type: ignore[union-attr]
    assert await workers.core.reports.ledger_check() == []


async def _holds(runner: LeasedRunner, job_id: str) -> bool:
    return any(job.id == job_id for job in runner.running_jobs())


async def _not_holding(runner: LeasedRunner, job_id: str) -> bool:
    return not await _holds(runner, job_id)


async def _in_state(workers: Workers, job_id: str, state: JobState) -> bool:
    job = await workers.core.jobs.get(job_id)
    return job is not None and job.state is state


async def _canceled_at(workers: Workers) -> bool:
    return bool(workers.backend.canceled)


async def test_a_gateway_reads_back_what_the_workers_claimed(tmp_path: Path, small_clip: Path, store_url: str) -> None:
    backend = ScriptedBackend(small_clip, auto_release=False)
    gateway = await Core.open(
        settings_for(tmp_path, default_max_queued=10, default_daily_seconds=1000, default_monthly_seconds=10_000,
                     database_url=SecretStr(store_url)),
        clock=FakeClock(), backends={backend.name: backend}, catalog=catalog(max_concurrency=1), gateway=True,
    )  # fmt: skip
    shared = Workers(gateway, backend)
    try:
        await gateway.start()
        first, second = await enqueue(shared, 1, 2)
        assert gateway.jobs.place(second).position == 2  # type: ignore[union-attr]
        await shared.start("a")
        await until(lambda: _in_state(shared, first.id, JobState.RUNNING), "a worker runs the first job")
        assert gateway.runner.running_jobs() == []  # the gateway drives nothing itself
        await gateway.runner._refresh()  # what it does every QUEUE_REFRESH_SECONDS
        assert gateway.jobs.place(first) is None
        assert gateway.jobs.place(second).position == 1  # type: ignore[union-attr]
    finally:
        await shared.stop()
        await gateway.close()


async def test_a_gateway_follows_what_another_gateway_queued_and_canceled(
    tmp_path: Path, small_clip: Path, postgres_url: str
) -> None:
    backend = ScriptedBackend(small_clip, auto_release=False)

    def settings(name: str) -> Settings:
        return settings_for(tmp_path / name, default_max_queued=10, default_daily_seconds=1000,
                            default_monthly_seconds=10_000, database_url=SecretStr(postgres_url))  # fmt: skip

    gateways = [
        await Core.open(
            settings(name), clock=FakeClock(), backends={backend.name: backend}, catalog=catalog(), gateway=True
        )
        for name in ("a", "b")
    ]
    here, there = gateways
    try:
        for gateway in gateways:
            await gateway.start()
        mine = (await here.jobs.enqueue(origin(1), request(), Member(1))).job
        theirs = [(await there.jobs.enqueue(origin(2), request(), Member(2))).job for _ in range(2)]
        assert here.jobs.place(theirs[0]) is None  # not read back yet
        await here.runner._refresh()
        assert [here.jobs.place(job).position for job in (mine, *theirs)] == [1, 2, 3]  # type: ignore[union-attr]
        await there.jobs.cancel(theirs[0].id, Member(2), GUILD)
        await here.runner._refresh()
        assert here.jobs.place(theirs[0]) is None
        assert here.jobs.place(theirs[1]).position == 2  # type: ignore[union-attr]
    finally:
        for gateway in gateways:
            await gateway.close()
