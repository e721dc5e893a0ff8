"""The SQLite connection: pragmas, numbered migrations, and group commit (`bot/store/batches.py`).

One aiosqlite connection serves the process; each batch runs on aiosqlite's own
thread, in one `BEGIN IMMEDIATE ... COMMIT` when it writes, which also keeps any
other process's writes out until it commits.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable
from pathlib import Path

import aiosqlite

from bot.store.batches import GroupCommit, Item, run_batch
from bot.store.migrations import migrations
from bot.store.sqlite.queries import Q

log = logging.getLogger(__name__)

_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    # WAL + NORMAL: durable across an application crash, which is what we guard.
    "PRAGMA synchronous = NORMAL",
)


class SqliteTransactions:
    """Transaction control on the connection (opened with isolation_level=None: no implicit BEGIN)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def begin(self, writes: bool) -> None:
        self._connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")

    def commit(self) -> None:
        self._connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    def savepoint(self) -> None:
        self._connection.execute("SAVEPOINT item")

    def rollback_to_savepoint(self) -> None:
        self._connection.execute("ROLLBACK TO item")

    def release_savepoint(self) -> None:
        self._connection.execute("RELEASE item")

    def failed(self) -> bool:
        return False  # a failed statement leaves an SQLite transaction usable

    def conflict(self, error: BaseException) -> bool:
        return False  # BEGIN IMMEDIATE takes the write lock first: writers wait, they never race


class Database(GroupCommit[sqlite3.Connection]):
    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        super().__init__()
        self._connection = connection
        self.path = path
        self._transactions = SqliteTransactions(connection._conn)

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating the folder and file), set pragmas, apply pending migrations."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            database = cls(connection, path)
            await connection._execute(_prepare, connection._conn)  # type: ignore[no-untyped-call]
        except BaseException:
            await connection.close()  # its worker thread would otherwise keep the process alive
            raise
        return database

    async def close(self) -> None:
        """Finish every batch already handed over, then close the connection."""
        await self._finish_batches()
        await self._connection.close()

    def _run_on_thread(self, batch: list[Item[sqlite3.Connection]]) -> Awaitable[None]:
        """Run the batch on the connection's own thread.

        aiosqlite has no public call for this (its maintainer agrees it would save
        round trips, omnilib/aiosqlite#19); `_execute` and `_conn` have been its
        internal API since 0.1, and pyproject pins the versions tested.
        """
        connection = self._connection._conn
        return self._connection._execute(run_batch, self._transactions, connection, batch)  # type: ignore[no-untyped-call]


def pending_migrations(path: Path) -> list[str]:
    """The names of the migrations the file at `path` lacks (all of them if it does not exist)."""
    known = migrations("bot.store.sqlite")
    if not path.exists():
        return [migration.name for migration in known]
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        try:
            applied = {row[0] for row in connection.execute(Q["applied_migrations"]).fetchall()}
        except sqlite3.OperationalError:  # no migrations table: nothing applied yet
            applied = set()
    finally:
        connection.close()
    return [migration.name for migration in known if migration.version not in applied]


def _prepare(connection: sqlite3.Connection) -> None:
    for pragma in _PRAGMAS:
        connection.execute(pragma).fetchall()
    _migrate(connection)


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(Q["create_migrations_table"])
        applied = {row[0] for row in connection.execute(Q["applied_migrations"]).fetchall()}
        for migration in migrations("bot.store.sqlite"):
            if migration.version in applied:
                continue
            log.info("applying database migration %s", migration.name)
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(Q["record_migration"], (migration.version, migration.name))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
