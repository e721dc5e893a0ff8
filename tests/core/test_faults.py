"""Faults around a job: what members are shown, deadlines, waiting out a provider's "slow down"."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bot.backends.base import BackendError, BackendErrorKind
from bot.domain.jobs import FailureReason, JobState
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, origin, request

# A bound on how long a test waits for an outcome (it fails instead of hanging), not a speed figure.
LIVENESS = 60.0


async def test_members_see_a_short_plain_reason_without_markup_or_server_paths(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    detail = "<html><body><h1>Render failed</h1></body></html> reading /srv/footage/data/clips/X.mp4\n\x1b[31m"
    harness.backend.script(queued.job.id).poll_error = BackendError(BackendErrorKind.GENERATION_FAILED, detail)
    await core.start()
    failed = await harness.until(queued.job.id, JobState.FAILED)
    assert failed.failure is FailureReason.GENERATION_FAILED
    assert failed.failure_detail == "Render failed reading X.mp4 \\x1b[31m"
    assert (await core.quotas.status(GUILD, Member(1))).day_used == 0
    assert await core.reports.ledger_check() == []


async def test_a_429_on_submit_is_waited_out_with_the_status_saying_so(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    harness.backend.script(queued.job.id).rate_limited_submits = 2
    notes: list[str] = []
    core.events.subscribe(lambda event: notes.append(event.job.waiting_reason) if event.job.waiting_reason else None)
    await core.start()
    delivered = await harness.until(queued.job.id, JobState.DELIVERED, timeout=LIVENESS)
    assert harness.backend.submits == [queued.job.id] * 3
    assert len(notes) == 2 and all("asked the bot to slow down" in note for note in notes)
    assert delivered.waiting_reason is None
    assert await core.reports.ledger_check() == []


async def test_the_job_deadline_holds_through_a_hung_poll_and_an_endless_429(harness: CoreHarness) -> None:
    core = await harness.open(start=False, job_timeout_seconds=10, default_max_queued=10)
    hung = await core.jobs.enqueue(origin(1), request(), Member(1))
    throttled = await core.jobs.enqueue(origin(2), request(), Member(2))
    harness.backend.script(hung.job.id).poll_hangs = True
    harness.backend.script(throttled.job.id).rate_limited_submits = -1
    await core.start()
    for queued in (hung, throttled):
        failed = await harness.until(queued.job.id, JobState.FAILED, timeout=LIVENESS)
        assert failed.failure is FailureReason.TIMED_OUT
        assert "10-second limit" in (failed.failure_detail or "")
    assert harness.backend.canceled == [f"remote-{hung.job.id}"]  # the throttled one never reached the provider
    for user in (1, 2):
        assert (await core.quotas.status(GUILD, Member(user))).day_used == 0
    assert await core.reports.ledger_check() == []


async def test_an_image_declaring_too_many_pixels_never_reaches_the_backend(
    harness: CoreHarness, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("L", (13_000, 13_000)).save(bomb, optimize=True)
    core = await harness.open()
    queued = await core.jobs.enqueue(origin(1), request(image_url=str(bomb)), Member(1))
    failed = await harness.until(queued.job.id, JobState.FAILED, timeout=LIVENESS)
    assert failed.failure is FailureReason.BAD_INPUT_IMAGE
    assert "too large (13000 x 13000)" in (failed.failure_detail or "")
    assert harness.backend.submits == []
    assert await core.reports.ledger_check() == []
