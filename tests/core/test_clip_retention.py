"""Clips on disk: kept MEDIA_RETENTION_DAYS after posting, the folder capped, leftovers cleaned."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from bot.domain.jobs import Job, JobState
from bot.quotas.service import Member
from tests.core.conftest import CoreHarness, origin, request
from tests.waiting import until

HOURS = 3600


def aged(path: Path, seconds: float, content: bytes = b"x" * 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


async def deliver(harness: CoreHarness, user: int) -> Job:
    assert harness.core is not None
    queued = await harness.core.jobs.enqueue(origin(user), request(), Member(user))
    return await harness.until(queued.job.id, JobState.DELIVERED)


async def test_posted_clips_go_after_the_retention_days_and_leftovers_after_two_hours(harness: CoreHarness) -> None:
    core = await harness.open(media_retention_days=7)
    clips = harness.tmp_path / "clips"
    old = await deliver(harness, 1)
    harness.clock.now += timedelta(days=5)
    recent = await deliver(harness, 2)
    harness.backend.auto_release = False
    queued = await core.jobs.enqueue(origin(3), request(), Member(3))
    running = await harness.until(queued.job.id, JobState.RUNNING)
    being_fetched = aged(clips / f"{running.id}.mp4", 10 * HOURS)  # resumed after a restart: keep
    stale_reencode = aged(clips / f"{recent.id}.1a2b3c4d.fit1.mp4", 7 * HOURS)
    fresh_reencode = aged(clips / f"{recent.id}.5e6f7a8b.fit1.mp4", 60)
    stale_render = aged(clips / "demo-renders" / "render-42.mp4", 7 * HOURS)
    unknown_clip = aged(clips / "ZZZZ2345.mp4", 7 * HOURS)

    harness.clock.now += timedelta(days=2, hours=1)  # the first clip was posted 7 days and 1 hour ago
    removed = await core.janitor.sweep()

    assert {(removal.path.name, removal.why) for removal in removed} == {
        (f"{old.id}.mp4", "expired"),
        (stale_reencode.name, "leftover"),
        (stale_render.name, "leftover"),
        (unknown_clip.name, "leftover"),
    }
    assert not Path(old.result_path or "").exists()
    assert Path(recent.result_path or "").exists()
    assert being_fetched.exists() and fresh_reencode.exists()
    assert await core.reports.ledger_check() == []


async def test_the_folder_cap_removes_the_oldest_posted_clips_first(harness: CoreHarness) -> None:
    cap = 1024**2
    core = await harness.open(media_max_bytes=cap, default_daily_seconds=1000)
    jobs = []
    for user in range(1, 6):
        jobs.append(await deliver(harness, user))
        harness.clock.now += timedelta(minutes=1)
    # Five clips of 0.4 of the cap each: three must go.
    for job in jobs:
        os.truncate(job.result_path or "", int(cap * 0.4))

    removed = await core.janitor.sweep()

    assert [removal.path.name for removal in removed] == [f"{jobs[0].id}.mp4", f"{jobs[1].id}.mp4", f"{jobs[2].id}.mp4"]
    assert {removal.why for removal in removed} == {"over_cap"}
    assert [Path(job.result_path or "").exists() for job in jobs] == [False, False, False, True, True]


async def test_retention_zero_removes_a_clip_once_it_is_posted(harness: CoreHarness) -> None:
    core = await harness.open(media_retention_days=0)
    done = await deliver(harness, 1)
    path = Path(done.result_path or "")
    await until(lambda: not path.exists(), "the posted clip's file to be removed")
    assert (await core.jobs.get(done.id)) is not None
