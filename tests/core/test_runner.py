from __future__ import annotations

import asyncio

import pytest

from bot.backends.base import BackendError, BackendErrorKind
from bot.domain.jobs import FailureReason, JobState
from bot.domain.tiers import Tier
from bot.jobs.delivery import Undeliverable
from bot.jobs.events import JobEvent
from bot.jobs.refusal import Refusal
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, origin, request


async def test_a_job_runs_to_delivery_and_is_charged_actual_seconds(harness: CoreHarness) -> None:
    core = await harness.open()
    queued = await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))
    done = await harness.until(queued.job.id, JobState.DELIVERED)
    assert done.backend_job_id == f"remote-{done.id}" and done.result_message_id == 1001
    assert done.result_path is not None and done.result_path.endswith(f"{done.id}.mp4")
    assert [job_id for job_id, _ in harness.deliverer.posted] == [done.id]
    # The clip is 2 s long; 4 s were reserved and 2 s charged.
    status = await core.quotas.status(GUILD, Member(1))
    assert status.day_used == 2
    report = await core.reports.usage(GUILD)
    assert [(row.user_id, row.seconds, row.cost_micros) for row in report.rows] == [(1, 2, 1_000_000)]
    assert await core.reports.ledger_check() == []


async def test_fair_share_orders_two_users(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10, default_daily_seconds=1000)
    alice = [await core.jobs.enqueue(origin(1), request(seconds=4), Member(1)) for _ in range(3)]
    bob = await core.jobs.enqueue(origin(2), request(seconds=4), Member(2))
    # Bob arrived last but waits behind only Alice's first job, not her whole backlog.
    assert [q.place.position for q in alice if q.place] == [1, 2, 3]
    bob_place = core.jobs.place(bob.job)
    assert bob_place is not None and bob_place.position == 2
    assert [core.jobs.place(q.job).position for q in alice] == [1, 3, 4]  # type: ignore[union-attr]


async def test_weights_give_heavier_users_a_bigger_share(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10, default_daily_seconds=1000)
    await core.guilds.set_tier(GUILD, Tier("gold", 1000, 1000, 1, 10, 8, weight=2))
    await core.guilds.set_user_tier(GUILD, 2, "gold")
    light = [await core.jobs.enqueue(origin(1), request(seconds=4), Member(1)) for _ in range(4)]
    heavy = [await core.jobs.enqueue(origin(2), request(seconds=4), Member(2)) for _ in range(4)]
    order = [job.user_id for job in core.queue.in_order()]
    assert order == [1, 2, 2, 1, 2, 2, 1, 1]
    assert len(light) == len(heavy) == 4


async def test_per_user_running_limit_and_per_backend_concurrency(harness: CoreHarness) -> None:
    harness.backend.auto_release = False
    core = await harness.open(max_concurrency=2, default_max_queued=10, default_daily_seconds=1000)
    a1 = await core.jobs.enqueue(origin(1), request(), Member(1))
    a2 = await core.jobs.enqueue(origin(1), request(), Member(1))
    b1 = await core.jobs.enqueue(origin(2), request(), Member(2))
    c1 = await core.jobs.enqueue(origin(3), request(), Member(3))
    await harness.until(a1.job.id, JobState.RUNNING)
    await harness.until(b1.job.id, JobState.RUNNING)
    # One running per user, two per backend: a2 and c1 wait.
    assert (await core.jobs.get(a2.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    assert (await core.jobs.get(c1.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    harness.backend.script(a1.job.id).release.set()
    await harness.until(a1.job.id, JobState.DELIVERED)
    # The freed slot goes to c1 (user 3 has nothing running; a2's owner would be next in fair order).
    await harness.until(c1.job.id, JobState.RUNNING)
    for job in (b1, c1):
        harness.backend.script(job.job.id).release.set()
    await harness.until(a2.job.id, JobState.RUNNING)
    harness.backend.script(a2.job.id).release.set()
    await harness.until(a2.job.id, JobState.DELIVERED)
    assert await core.reports.ledger_check() == []


async def test_pause_holds_the_guild_queue_until_resume(harness: CoreHarness) -> None:
    core = await harness.open()
    await core.guilds.set_paused(GUILD, True)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    assert (await core.jobs.get(queued.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    assert (await core.guilds.config(GUILD)).paused
    await core.guilds.set_paused(GUILD, False)
    await harness.until(queued.job.id, JobState.DELIVERED)


async def test_no_job_starts_once_pause_has_returned(harness: CoreHarness) -> None:
    """A job queued just before the pause, with the runner already woken for it, still waits."""
    core = await harness.open()
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    await core.guilds.set_paused(GUILD, True)
    started: list[str] = []

    def on_event(event: JobEvent) -> None:
        if event.job.state is not JobState.QUEUED:
            started.append(event.job.id)

    core.events.subscribe(on_event)
    for _ in range(20):  # let the woken runner have its turns
        await asyncio.sleep(0)
    assert started == []
    assert (await core.jobs.get(queued.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (BackendErrorKind.CONTENT_POLICY, FailureReason.CONTENT_POLICY),
        (BackendErrorKind.OUT_OF_CREDIT, FailureReason.OUT_OF_CREDIT),
        (BackendErrorKind.INVALID_REQUEST, FailureReason.INVALID_REQUEST),
        (BackendErrorKind.UNAVAILABLE, FailureReason.BACKEND_UNAVAILABLE),
    ],
)
async def test_failures_carry_their_reason_and_refund(
    harness: CoreHarness, kind: BackendErrorKind, reason: FailureReason
) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    harness.backend.script(queued.job.id).submit_error = BackendError(kind, "provider said no")
    await core.start()
    failed = await harness.until(queued.job.id, JobState.FAILED)
    assert failed.failure is reason and failed.failure_detail == "provider said no"
    assert (await core.quotas.status(GUILD, Member(1))).day_used == 0
    assert harness.deliverer.posted == []
    assert await core.reports.ledger_check() == []


async def test_a_failed_poll_cancels_nothing_twice_and_refunds(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    harness.backend.script(queued.job.id).poll_error = BackendError(BackendErrorKind.CONTENT_POLICY, "nsfw")
    await core.start()
    failed = await harness.until(queued.job.id, JobState.FAILED)
    assert failed.failure is FailureReason.CONTENT_POLICY
    assert harness.backend.submits == [queued.job.id]


async def test_cancel_while_queued_and_while_running(harness: CoreHarness) -> None:
    harness.backend.auto_release = False
    core = await harness.open(default_max_queued=10)
    running = await core.jobs.enqueue(origin(1), request(), Member(1))
    waiting = await core.jobs.enqueue(origin(1), request(), Member(1))
    await harness.until(running.job.id, JobState.RUNNING)
    with pytest.raises(Refusal) as refused:
        await core.jobs.cancel(waiting.job.id, Member(2), GUILD)
    assert refused.value.code == "not_yours"
    canceled = await core.jobs.cancel(waiting.job.id, Member(1), GUILD)
    assert canceled.state is JobState.CANCELED and core.jobs.place(canceled) is None
    await core.jobs.cancel(running.job.id, Member(5, is_moderator=True), GUILD)
    await harness.until(running.job.id, JobState.CANCELED)
    for _ in range(100):
        if harness.backend.canceled:
            break
        await __import__("asyncio").sleep(0.01)
    assert harness.backend.canceled == [f"remote-{running.job.id}"]
    assert (await core.quotas.status(GUILD, Member(1))).day_used == 0
    with pytest.raises(Refusal) as refused:
        await core.jobs.cancel(running.job.id, Member(1), GUILD)
    assert refused.value.code == "already_finished"
    assert await core.reports.ledger_check() == []


async def test_retry_double_click_makes_one_job_and_remix_changes_prompt(harness: CoreHarness) -> None:
    harness.backend.auto_release = False
    core = await harness.open(default_max_queued=10, default_daily_seconds=1000)
    first = await core.jobs.enqueue(origin(1), request(), Member(1))
    once = await core.jobs.retry(first.job.id, Member(1), channel_id=20, upload_limit=1 << 20)
    twice = await core.jobs.retry(first.job.id, Member(1), channel_id=20, upload_limit=1 << 20)
    assert twice.duplicate and twice.job.id == once.job.id
    assert once.job.request.prompt == first.job.request.prompt and once.job.parent_id == first.job.id
    with pytest.raises(Refusal):
        await core.jobs.retry(first.job.id, Member(2), channel_id=20, upload_limit=1 << 20)
    remix = await core.jobs.remix(first.job.id, Member(1), "a clear harbour at noon", channel_id=20, upload_limit=1)
    assert remix.job.request.prompt == "a clear harbour at noon" and remix.job.kind == "remix"


async def test_undeliverable_job_is_failed_and_refunded(harness: CoreHarness) -> None:
    harness.deliverer.outcome = Undeliverable(FailureReason.UNDELIVERABLE, "channel deleted")
    core = await harness.open()
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    failed = await harness.until(queued.job.id, JobState.FAILED)
    assert failed.failure is FailureReason.UNDELIVERABLE and failed.result_path is not None
    assert await core.reports.ledger_check() == []


async def test_progress_and_state_events_are_published(harness: CoreHarness) -> None:
    core = await harness.open()
    seen: list[tuple[str, str]] = []
    core.events.subscribe(lambda event: seen.append((event.kind, event.job.state.value)))
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    await harness.until(queued.job.id, JobState.DELIVERED)
    states = [state for kind, state in seen if kind == "state"]
    assert states == ["queued", "submitting", "running", "fetching", "delivering", "delivered"]


async def test_pause_everywhere_holds_every_guild_and_survives_restart(harness: CoreHarness) -> None:
    core = await harness.open()
    await core.guilds.set_paused_everywhere(True)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    await harness.close()
    core = await harness.open()
    assert core.runner.paused
    assert (await core.jobs.get(queued.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    await core.guilds.set_paused_everywhere(False)
    await harness.until(queued.job.id, JobState.DELIVERED)


async def test_waiting_jobs_hear_when_the_queue_moves(harness: CoreHarness) -> None:
    harness.backend.auto_release = False
    core = await harness.open(start=False, default_max_queued=10, default_daily_seconds=1000)
    first = await core.jobs.enqueue(origin(1), request(), Member(1))
    second = await core.jobs.enqueue(origin(1), request(), Member(1))
    told: list[tuple[str, int | None]] = []

    def listen(event: JobEvent) -> None:
        if event.kind == "progress" and event.job.state is JobState.QUEUED:
            place = core.jobs.place(event.job)
            told.append((event.job.id, place.position if place else None))

    core.events.subscribe(listen)
    await core.start()
    await harness.until(first.job.id, JobState.RUNNING)
    assert (second.job.id, 1) in told
