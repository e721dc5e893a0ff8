"""A restart picks every job up where it stood: poll again, never resubmit, post once."""

from __future__ import annotations

from pathlib import Path
from shutil import copyfile

import pytest

from bot.clock import to_epoch
from bot.domain.jobs import FailureReason, Job, JobState
from bot.jobs import runner
from bot.quotas.service import Member
from bot.store.transaction import Tx
from tests.core.conftest import GUILD, CoreHarness, origin, request


async def _queued(harness: CoreHarness, **settings: object) -> Job:
    core = await harness.open(start=False, **settings)
    return (await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))).job


async def _crash_in(harness: CoreHarness, job: Job, *states: JobState, **changes: object) -> None:
    """Move the stored job as the runner would have, then stop as if the process died."""
    assert harness.core is not None
    now = to_epoch(harness.clock())

    def walk(tx: Tx) -> None:
        current = job
        for state in states:
            current = tx.move_job(current, state, now, **(changes if state is states[-1] else {}))

    await harness.core.store.write(walk)
    await harness.close()


async def test_running_job_is_polled_again_never_resubmitted(harness: CoreHarness) -> None:
    job = await _queued(harness)
    await _crash_in(harness, job, JobState.SUBMITTING, JobState.RUNNING, backend_job_id=f"remote-{job.id}")
    harness.backend.script(job.id).release.set()  # the provider finished while the bot was down
    core = await harness.open()
    done = await harness.until(job.id, JobState.DELIVERED)
    assert harness.backend.submits == [] and harness.backend.polls >= 1
    assert done.backend_job_id == f"remote-{job.id}"
    assert await core.reports.ledger_check() == []


async def test_submit_interrupted_without_idempotency_fails_and_refunds(harness: CoreHarness) -> None:
    job = await _queued(harness)
    await _crash_in(harness, job, JobState.SUBMITTING)
    core = await harness.open()
    failed = await harness.until(job.id, JobState.FAILED)
    assert failed.failure is FailureReason.SUBMIT_INTERRUPTED
    assert harness.backend.submits == []
    assert (await core.quotas.status(GUILD, Member(1))).day_used == 0
    assert await core.reports.ledger_check() == []


async def test_submit_interrupted_with_idempotency_key_is_sent_again(harness: CoreHarness) -> None:
    job = await _queued(harness)
    await _crash_in(harness, job, JobState.SUBMITTING)
    harness.backend.capabilities = type(harness.backend.capabilities)(idempotent_submit=True)
    await harness.open()
    await harness.until(job.id, JobState.DELIVERED)
    assert harness.backend.submits == [job.id]


async def test_caught_mid_delivery_posts_exactly_once(harness: CoreHarness, small_clip: Path) -> None:
    job = await _queued(harness)
    clip = harness.tmp_path / "clips" / f"{job.id}.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    copyfile(small_clip, clip)
    await _crash_in(
        harness, job, JobState.SUBMITTING, JobState.RUNNING, JobState.FETCHING, JobState.DELIVERING,
        result_path=str(clip),
    )  # fmt: skip
    await harness.open()
    done = await harness.until(job.id, JobState.DELIVERED)
    assert [job_id for job_id, _ in harness.deliverer.posted] == [job.id]
    assert done.result_message_id is not None


async def test_queued_jobs_keep_their_fair_order_after_restart(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10, default_daily_seconds=1000)
    alice = [await core.jobs.enqueue(origin(1), request(), Member(1)) for _ in range(3)]
    bob = await core.jobs.enqueue(origin(2), request(), Member(2))
    before = [job.id for job in core.queue.in_order()]
    await harness.close()
    core = await harness.open(start=False, default_max_queued=10, default_daily_seconds=1000)
    await core.runner.recover()
    assert [job.id for job in core.queue.in_order()] == before
    assert before[1] == bob.job.id and before[0] == alice[0].job.id


async def test_waiting_jobs_come_back_a_page_at_a_time_as_entries_and_start_whole(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recovery reads pages of the columns the queue keeps; a job not kept whole is read back as it starts."""
    monkeypatch.setattr(runner, "RECOVERY_PAGE", 2)
    settings = {"default_max_queued": 10, "default_daily_seconds": 1000}
    core = await harness.open(start=False, **settings)
    users = (1, 1, 2, 3, 2)
    queued = [
        (await core.jobs.enqueue(origin(user), request(prompt=f"clip {n}"), Member(user))).job
        for n, user in enumerate(users)
    ]
    before = [entry.id for entry in core.queue.in_order()]
    await harness.close()
    core = await harness.open(start=False, **settings)
    await core.runner.recover()
    assert [entry.id for entry in core.queue.in_order()] == before
    assert [core.queue.held(job_id) for job_id in before] == [None] * len(users)  # entries only, no whole jobs
    await core.start()
    for job in queued:
        done = await harness.until(job.id, JobState.DELIVERED)
        assert (done.request, done.origin) == (job.request, job.origin)
    assert await core.reports.ledger_check() == []


async def test_newcomers_after_a_restart_do_not_jump_the_queue(harness: CoreHarness) -> None:
    """Virtual time survives a restart: a newcomer gets its fair share, not every slot ahead of the waiting."""
    settings = {"default_max_queued": 10, "default_daily_seconds": 1000}
    core = await harness.open(start=False, **settings)
    alice = [(await core.jobs.enqueue(origin(1), request(), Member(1))).job for _ in range(4)]
    now = to_epoch(harness.clock())
    for job in alice[:3]:  # started, as the runner would: tags 0, 2 and 4 leave the queue
        await core.store.write(lambda tx, job=job: tx.move_job(job, JobState.SUBMITTING, now))
        core.queue.dispatched(job)
    await harness.close()
    core = await harness.open(start=False, **settings)
    await core.runner.recover()
    carol = [(await core.jobs.enqueue(origin(3), request(), Member(3))).job for _ in range(2)]
    assert [job.id for job in core.queue.in_order()] == [carol[0].id, alice[3].id, carol[1].id]


async def test_shutdown_leaves_provider_jobs_alone(harness: CoreHarness) -> None:
    harness.backend.auto_release = False
    core = await harness.open()
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    await harness.until(queued.job.id, JobState.RUNNING)
    await harness.close()
    assert harness.backend.canceled == []
    harness.backend.script(queued.job.id).release.set()
    await harness.open()
    await harness.until(queued.job.id, JobState.DELIVERED)
    assert harness.backend.submits == [queued.job.id]
