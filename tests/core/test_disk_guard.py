"""The low-disk guard on a real small disk (a tmpfs this test mounts; skipped where it cannot)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import metrics
from bot.commands.doctor import check_disk
from bot.domain.jobs import JobState
from bot.quotas.service import Member
from tests.core.conftest import CoreHarness, origin, request
from tests.waiting import until

DISK_BYTES = 24 * 1024**2
MIN_FREE = 8 * 1024**2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path, leave_free: int) -> Path:
    """A filler file leaving about `leave_free` bytes free on `disk`."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as out:
        out.truncate(0)
        out.write(b"\0" * max(free - leave_free, 0))  # written, not sparse: tmpfs counts the pages
    return filler


async def test_jobs_wait_for_disk_space_and_continue_when_it_returns(
    harness: CoreHarness, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    overrides = {
        "database_path": small_disk / "footage.db",
        "media_dir": small_disk / "clips",
        "disk_min_free_bytes": MIN_FREE,
        "default_daily_seconds": 1000,
    }
    harness.backend.auto_release = False
    core = await harness.open(**overrides)
    first = await core.jobs.enqueue(origin(1), request(), Member(1))
    await harness.until(first.job.id, JobState.RUNNING)

    filler = fill(small_disk, MIN_FREE // 2)
    await until(lambda: core.disk.low, "the guard to read the full disk")  # a reading is reused for a second
    second = await core.jobs.enqueue(origin(2), request(), Member(2))
    harness.backend.script(first.job.id).release.set()
    # The finished render waits before its download; the new job does not start.
    await harness.until(first.job.id, JobState.FETCHING)
    await until(lambda: metrics.REGISTRY.get_sample_value("footage_jobs_held_for_disk") == 1, "the job to be held")
    assert (await core.jobs.get(second.job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    assert metrics.REGISTRY.get_sample_value("footage_disk_low") == 1
    doctor = check_disk(core.settings)
    assert not doctor.ok and "waiting for disk space" in doctor.detail
    assert any("disk space is low" in record.message for record in caplog.records)
    assert not (small_disk / "clips" / f"{first.job.id}.mp4").exists()

    filler.unlink()
    harness.backend.auto_release = True
    harness.backend.script(second.job.id).release.set()
    await harness.until(first.job.id, JobState.DELIVERED, timeout=30)
    await harness.until(second.job.id, JobState.DELIVERED, timeout=30)
    assert metrics.REGISTRY.get_sample_value("footage_disk_low") == 0
    assert metrics.REGISTRY.get_sample_value("footage_jobs_held_for_disk") == 0
    assert check_disk(core.settings).ok
    assert any("disk space is back" in record.message for record in caplog.records)
    assert await core.reports.ledger_check() == []
    await harness.close()
    with sqlite3.connect(small_disk / "footage.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
