"""Recorded statements replayed on a copy made before them leave the copy exactly as the run left the database."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.domain.jobs import JobState
from bot.domain.records import LedgerEntry
from bot.store.group_commit_store import GroupCommitStore
from bot.store.opening import open_store
from bot.store.sqlite.backup import backup_database
from bot.store.sqlite.database import Batch, Database
from bot.store.sqlite.replay import replay
from bot.store.urls import sqlite_url
from tests.store.test_store import a_job


def _rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        jobs = connection.execute("SELECT * FROM jobs ORDER BY rowid").fetchall()
        return jobs + connection.execute("SELECT * FROM ledger ORDER BY rowid").fetchall()


async def test_a_replay_of_the_recorded_batches_makes_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = await open_store(sqlite_url(path))
    assert isinstance(store, GroupCommitStore) and isinstance(store.database, Database)
    first = a_job("RECORDED")
    await store.write(lambda tx: tx.insert_job(first))
    backup_database(path, tmp_path / "before.db")
    recorded: list[Batch] = []
    store.database.record(recorded)
    second = a_job("REPLAYED")
    await store.write(lambda tx: tx.insert_job(second))
    await store.write(lambda tx: tx.add_ledger(second, [LedgerEntry("reserve", 2, 1)], 1.0))
    started = await store.write(lambda tx: tx.start_job(first.id, 2.0))
    assert started is not None
    await store.write(lambda tx: tx.move_job(started, JobState.CANCELED, 3.0))
    store.database.record(None)
    await store.write(lambda tx: tx.set_meta("after", "not recorded"))
    await store.close()

    assert len(recorded) == 4 and all(batch[0][0].startswith("BEGIN") for batch in recorded)
    assert replay(tmp_path / "before.db", recorded).wall_seconds > 0
    assert _rows(tmp_path / "before.db") == _rows(path)
