"""Short database trouble (a full disk, another process's lock) is waited out, not reported."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.store import batches
from bot.store.sqlite.database import Database
from bot.store.store import StoreBusy

BLOB = b"x" * 200_000


def _fill(connection: sqlite3.Connection) -> int:
    connection.execute("INSERT INTO scratch (data) VALUES (?)", (BLOB,))
    return int(connection.execute("SELECT count(*) FROM scratch").fetchone()[0])


def _pragma(statement: str) -> object:
    return lambda connection: connection.execute(statement).fetchall()


async def _full_database(tmp_path: Path) -> Database:
    database = await Database.open(tmp_path / "footage.db")
    await database.run(_pragma("CREATE TABLE scratch (data BLOB)"), writes=True)
    pages = await database.run(_pragma("PRAGMA page_count"), writes=False)
    # The file may not grow: SQLite answers SQLITE_FULL ("database or disk is full"), as on a full disk.
    await database.run(_pragma(f"PRAGMA max_page_count = {pages[0][0] + 2}"), writes=False)  # type: ignore[index]
    return database


async def test_a_write_on_a_full_disk_waits_until_there_is_room(tmp_path: Path) -> None:
    database = await _full_database(tmp_path)
    try:
        write = asyncio.ensure_future(database.run(_fill, writes=True))
        await asyncio.sleep(0.5)
        assert not write.done()  # still being tried, not failed
        await database.run(_pragma("PRAGMA max_page_count = 1000000"), writes=False)
        async with asyncio.timeout(30):  # liveness only
            assert await write == 1
    finally:
        await database.close()


async def test_past_the_retry_window_the_caller_hears_store_busy_and_nothing_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "TRANSIENT_RETRY_SECONDS", 0.3)
    database = await _full_database(tmp_path)
    try:
        with pytest.raises(StoreBusy) as busy:
            await database.run(_fill, writes=True)
        assert "full" in str(busy.value) and "footage.db" in str(busy.value)
        await database.run(_pragma("PRAGMA max_page_count = 1000000"), writes=False)
        assert await database.run(_fill, writes=True) == 1  # the first insert left nothing behind
    finally:
        await database.close()
