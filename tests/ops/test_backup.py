"""`footage-bot backup` while the bot writes: the copy passes SQLite's integrity check and the quota ledger check."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from bot.commands.doctor import check_ledger
from bot.domain.jobs import JobState
from bot.quotas.service import Member
from bot.store.sqlite.backup import BackupFailed, backup_database
from tests.core.conftest import CoreHarness, origin, request, settings_for
from tests.discord.simworld import write_clip
from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]


async def test_backup_while_jobs_are_written(tmp_path: Path) -> None:
    harness = CoreHarness(tmp_path, write_clip(tmp_path / "clip.mp4"))
    core = await harness.open(default_daily_seconds=10**6, default_monthly_seconds=10**6, default_max_queued=10**6)
    finished = 0
    stop = asyncio.Event()

    async def keep_writing() -> None:
        nonlocal finished
        user = 0
        while not stop.is_set():
            user += 1
            queued = await core.jobs.enqueue(origin(user), request(), Member(user))
            await harness.until(queued.job.id, JobState.DELIVERED)
            finished += 1

    writer = asyncio.create_task(keep_writing())
    copy = tmp_path / "backup.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_PATH": str(tmp_path / "footage.db")}
    await until(lambda: finished >= 3, "a few jobs to be delivered")
    before = finished
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "backup",
        str(copy),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    during = finished
    stop.set()
    await writer
    await harness.close()

    assert process.returncode == 0, err.decode()
    assert "integrity check ok" in out.decode()
    assert during > before  # jobs kept being written while the backup ran
    with closing(sqlite3.connect(copy)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        copied = connection.execute("SELECT count(*) FROM jobs").fetchone()[0]
    assert copied >= 3
    ledger = await asyncio.to_thread(check_ledger, settings_for(tmp_path, database_path=copy))
    assert ledger.ok, ledger.detail


def test_backup_refuses_to_overwrite_and_leaves_no_partial_file(tmp_path: Path) -> None:
    source = tmp_path / "footage.db"
    with closing(sqlite3.connect(source)) as connection:
        connection.execute("CREATE TABLE t (x)")
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep me")
    with pytest.raises(BackupFailed, match="already exists"):
        backup_database(source, taken)
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(BackupFailed, match="no database"):
        backup_database(tmp_path / "missing.db", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists() and not (tmp_path / "new.db.part").exists()
