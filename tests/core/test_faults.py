"""Faults around a job: what members are shown, deadlines, waiting out a provider's "slow down"."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from bot.backends.base import BackendError, BackendErrorKind
from bot.core import Core
from bot.domain.jobs import FailureReason, JobState, Origin
from bot.jobs import runner as runner_module
from bot.media.hard_clips import HardClip, write_hard_clip
from bot.quotas.service import Member
from bot.store import batches
from bot.store.group_commit_store import GroupCommitStore
from tests.core.conftest import CHANNEL, GUILD, CoreHarness, origin, request
from tests.reencoding import child_pids, reencode_at_playback_speed, until_reencoding

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


async def _lower_the_store_patience(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reach the store's give-up point in well under a second instead of 5 s + 30 s."""
    monkeypatch.setattr(batches, "TRANSIENT_RETRY_SECONDS", 0.3)
    monkeypatch.setattr(runner_module, "STORE_RETRY_FIRST_SECONDS", 0.1)
    monkeypatch.setattr(runner_module, "DISPATCH_RETRY_SECONDS", 0.2)
    assert isinstance(core.store, GroupCommitStore) and core.store.kind == "sqlite"
    await core.store.database.run(lambda connection: connection.execute("PRAGMA busy_timeout = 50"), writes=False)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's write lock: a second connection inside BEGIN EXCLUSIVE."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


async def test_a_write_lock_held_past_every_retry_neither_fails_nor_strands_a_running_job(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.backend.auto_release = False
    core = await harness.open()
    await _lower_the_store_patience(core, monkeypatch)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    await harness.until(queued.job.id, JobState.RUNNING, timeout=LIVENESS)
    holder = _hold_write_lock(harness.tmp_path / "footage.db")
    try:
        harness.backend.script(queued.job.id).release.set()  # its next checkpoints meet the lock
        await asyncio.sleep(1.5)  # five times the store's own retry window
        stored = await core.store.read(lambda tx: tx.get_job(queued.job.id))
        assert stored is not None and stored.state is JobState.RUNNING  # nothing written, nothing failed
    finally:
        holder.close()
    delivered = await harness.until(queued.job.id, JobState.DELIVERED, timeout=LIVENESS)
    assert delivered.failure is None
    assert [job_id for job_id, _ in harness.deliverer.posted] == [queued.job.id]
    assert await core.reports.ledger_check() == []


async def test_the_runner_wakes_itself_once_the_store_is_writable_again(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = await harness.open(start=False)
    await _lower_the_store_patience(core, monkeypatch)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    holder = _hold_write_lock(harness.tmp_path / "footage.db")
    try:
        await core.start()  # its first dispatch cannot write, and no enqueue will come to wake it
        await asyncio.sleep(1.0)
        assert (await core.jobs.get(queued.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    finally:
        holder.close()
    await harness.until(queued.job.id, JobState.DELIVERED, timeout=LIVENESS)
    assert await core.reports.ledger_check() == []


async def test_stopping_the_bot_mid_reencode_leaves_no_ffmpeg_and_no_half_written_file(
    harness: CoreHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.backend.clip = write_hard_clip(HardClip("noise", 180, 3, audio=True), tmp_path / "noise.mp4")
    reencode_at_playback_speed(monkeypatch)
    before = child_pids()
    core = await harness.open()
    await core.jobs.enqueue(Origin(GUILD, CHANNEL, 1, 300_000), request(), Member(1))  # over the limit: re-encoded
    media = harness.tmp_path / "clips"
    await until_reencoding(media)
    assert child_pids() - before  # ffmpeg is writing the re-encode
    await harness.close()  # what the bot's stop does (SIGTERM/Ctrl-C end in Core.close)
    assert child_pids() - before == set()
    assert list(media.glob("*.fit*.mp4")) == []
