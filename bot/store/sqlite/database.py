"""The SQLite connection: pragmas, numbered migrations, and group commit.

One aiosqlite connection serves the process. Callers hand the database a small
synchronous function (`run`); every function handed over while the previous
batch was working runs in the next batch, on aiosqlite's own thread, inside one
BEGIN ... COMMIT. A batch costs one trip to that thread however many statements
it holds: the trip (a thread hand-off and an event-loop wake-up, about 100 µs
here) costs twenty times a short statement, so batching is what lets many jobs
share the database at full speed.

A write that raises must leave nothing behind and not disturb the others. The
batch first runs optimistically, without savepoints; if a write raises, it is
rolled back whole and run again with a savepoint around each write, so the
failing one alone is undone. So a work function may run twice: it must only
compute and query, never act outside the database.

A caller's answer arrives after its batch committed; a write whose caller stopped
waiting (a canceled task) may still land, exactly as if the process had stopped
right after the commit, which recovery already handles.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot import metrics
from bot.store.sqlite.queries import Q

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    # WAL + NORMAL: durable across an application crash, which is what we guard.
    "PRAGMA synchronous = NORMAL",
)


# Loop steps the flusher yields after answering a batch. Two, because a job that just
# finished wakes the dispatcher, and its write that starts the next jobs is one step later.
_FOLLOW_UP_STEPS = 2


@dataclass(slots=True)
class _Item:
    work: Work[Any]
    writes: bool
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = field(default=(False, None))


class Database:
    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self.path = path
        self._pending: list[_Item] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # how well writes are being grouped (bench queue prints it)

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating the folder and file), set pragmas, apply pending migrations."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        database = cls(connection, path)
        try:
            await database._on_thread(_prepare)
        except BaseException:
            await connection.close()  # its worker thread would otherwise keep the process alive
            raise
        return database

    async def close(self) -> None:
        """Finish every batch already handed over, then close the connection."""
        self._closed = True
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        await self._connection.close()

    async def run(self, work: Work[T], *, writes: bool) -> T:
        """Run `work` in the next batch. A write that raises is rolled back alone."""
        if self._closed:
            raise RuntimeError("the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(work, writes, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="footage-db-batches")
        return await future

    async def _flush(self) -> None:
        batch: list[_Item] = []
        try:
            while self._pending:
                # A caller that stopped waiting before its batch left gets no write.
                batch = [item for item in self._pending if not item.future.cancelled()]
                self._pending = []
                if not batch:
                    continue
                self.batches += 1
                try:
                    await self._on_thread(_timed_batch, batch)
                except Exception as error:  # the batch as a whole failed: every caller hears why
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(error)
                    continue
                _answer(batch)
                batch = []
                # The callers just answered take their next steps before the next batch
                # leaves, so the writes they make at once join it. And the database thread
                # does not work while the loop runs them: the two would trade the GIL at
                # every statement (bench queue: 174,000 futex calls for 20,000 lifecycles
                # with no yield, 6,600 now).
                for _ in range(_FOLLOW_UP_STEPS):
                    await asyncio.sleep(0)
        except BaseException:  # the batches are being torn down: no caller waits forever
            for item in (*batch, *self._pending):
                item.future.cancel()
            self._pending = []
            raise
        finally:
            self._flusher = None

    async def _on_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(sqlite3_connection, *args)` on the connection's own thread.

        aiosqlite has no public call for this (its maintainer agrees it would save
        round trips, omnilib/aiosqlite#19); `_execute` and `_conn` have been its
        internal API since 0.1, and pyproject pins the versions tested.
        """
        return await self._connection._execute(lambda: function(self._connection._conn, *args))  # type: ignore[no-untyped-call, no-any-return]


def _prepare(connection: sqlite3.Connection) -> None:
    for pragma in _PRAGMAS:
        connection.execute(pragma).fetchall()
    _migrate(connection)


def _answer(batch: list[_Item]) -> None:
    for item in batch:
        succeeded, value = item.outcome
        if item.future.done():
            continue
        if succeeded:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)


def _timed_batch(connection: sqlite3.Connection, batch: list[_Item]) -> None:
    started = time.perf_counter()
    try:
        _run_batch(connection, batch)
    finally:
        metrics.database_batch(time.perf_counter() - started)


def _run_batch(connection: sqlite3.Connection, batch: list[_Item]) -> None:
    # Savepoints cost two statements a write; most batches have no failing write, so
    # they run without, and only a batch where one fails runs again with them.
    if not _run_once(connection, batch, savepoints=False):
        _run_once(connection, batch, savepoints=True)


def _run_once(connection: sqlite3.Connection, batch: list[_Item], *, savepoints: bool) -> bool:
    """One transaction for the batch. False, with nothing written, when a write failed and there were no savepoints."""
    connection.execute("BEGIN IMMEDIATE" if any(item.writes for item in batch) else "BEGIN")
    try:
        for item in batch:
            guarded = savepoints and item.writes
            if guarded:
                connection.execute("SAVEPOINT item")
            try:
                item.outcome = (True, item.work(connection))
            except Exception as error:
                if item.writes and not savepoints:
                    connection.execute("ROLLBACK")
                    return False
                if guarded:
                    connection.execute("ROLLBACK TO item")
                item.outcome = (False, error)
            if guarded:
                connection.execute("RELEASE item")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return True


def _migrate(connection: sqlite3.Connection) -> None:
    migrations = sorted(
        (int(match.group(1)), entry.name, entry.read_text(encoding="utf-8"))
        for entry in resources.files("bot.store.sqlite").joinpath("migrations").iterdir()
        if (match := _MIGRATION_NAME.match(entry.name))
    )
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(Q["create_migrations_table"])
        applied = {row[0] for row in connection.execute(Q["applied_migrations"]).fetchall()}
        for version, name, script in migrations:
            if version in applied:
                continue
            log.info("applying database migration %s", name)
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute(Q["record_migration"], (version, name))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [part.strip() for part in without_comments.split(";") if part.strip()]
