"""The SQLite connection: pragmas, numbered migrations, and group commit (`bot/store/batches.py`).

One aiosqlite connection serves the process; each batch runs on aiosqlite's own
thread, in one `BEGIN IMMEDIATE ... COMMIT` when it writes, which also keeps any
other process's writes out until it commits.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.batches import GroupCommit, Item, run_batch
from bot.store.migrations import migrations
from bot.store.sqlite.queries import Q
from bot.store.store import DatabaseUnreachable

log = logging.getLogger(__name__)

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    # WAL + NORMAL: durable across an application crash, which is what we guard.
    "PRAGMA synchronous = NORMAL",
)


Statement = tuple[str, Sequence[Any]]
Batch = list[Statement]


class RecordingConnection:
    """A connection that notes every statement it runs, with its parameters, into one batch (`Database.record`)."""

    def __init__(self, connection: sqlite3.Connection, batch: Batch) -> None:
        self._connection = connection
        self._batch = batch

    @property
    def in_transaction(self) -> bool:
        return self._connection.in_transaction

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> sqlite3.Cursor:
        self._batch.append((sql, params))
        return self._connection.execute(sql, params)


class SqliteTransactions:
    """Transaction control on the connection (opened with isolation_level=None: no implicit BEGIN)."""

    def __init__(self, connection: sqlite3.Connection | RecordingConnection) -> None:
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

    def transient(self, error: BaseException) -> bool:
        return is_transient(error)


# SQLite's answers that say "not now" rather than "never": another process's lock past
# busy_timeout, a full disk, an I/O error.
_TRANSIENT_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})


def is_transient(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.OperationalError) and code is not None and code & 0xFF in _TRANSIENT_CODES


class Database(GroupCommit[sqlite3.Connection]):
    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        super().__init__()
        self._connection = connection
        self.path = path
        self._transactions = SqliteTransactions(connection._conn)
        self._recorded: list[Batch] | None = None

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating the folder and file), set pragmas, apply pending migrations.

        Raises `DatabaseUnreachable`, naming the file and the problem, when it cannot.
        """
        try:
            await asyncio.to_thread(_check_file, path)
            connection = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise DatabaseUnreachable(f"database {path}: {_plain_problem(error)}") from None
        connection.row_factory = sqlite3.Row
        try:
            database = cls(connection, path)
            await connection._execute(_prepare, connection._conn)  # type: ignore[no-untyped-call]
        except BaseException as error:
            await connection.close()  # its worker thread would otherwise keep the process alive
            if isinstance(error, sqlite3.Error):
                raise DatabaseUnreachable(f"database {path}: {_plain_problem(error)}") from None
            raise
        return database

    async def close(self) -> None:
        """Finish every batch already handed over, then close the connection."""
        await self._finish_batches()
        await self._connection.close()

    def _transient(self, error: BaseException) -> bool:
        return is_transient(error)

    @property
    def _label(self) -> str:
        return str(self.path)

    async def listen(self, channels: Sequence[str], on_notice: Callable[[str, str], None]) -> None:
        await asyncio.Event().wait()  # one process per SQLite file: nobody else sends any

    def record(self, batches: list[Batch] | None) -> None:
        """From the next batch on, append each batch's statements, with their parameters, to `batches`;
        None stops. For `bench queue --sql-alone` (`bot.store.sqlite.replay`)."""
        self._recorded = batches

    def _run_on_thread(self, batch: list[Item[sqlite3.Connection]]) -> Awaitable[None]:
        """Run the batch on the connection's own thread.

        aiosqlite has no public call for this (its maintainer agrees it would save
        round trips, omnilib/aiosqlite#19); `_execute` and `_conn` have been its
        internal API since 0.1, and pyproject pins the versions tested.
        """
        connection: sqlite3.Connection | RecordingConnection = self._connection._conn
        transactions = self._transactions
        if self._recorded is not None:
            self._recorded.append([])
            connection = RecordingConnection(self._connection._conn, self._recorded[-1])
            transactions = SqliteTransactions(connection)
        return self._connection._execute(run_batch, transactions, connection, batch)  # type: ignore[no-untyped-call]


def pending_migrations(path: Path) -> list[str]:
    """The names of the migrations the file at `path` lacks (all of them if it does not exist).

    Raises `DatabaseUnreachable`, naming the file and the problem, for a file SQLite cannot use.
    """
    known = migrations("bot.store.sqlite")
    if not path.exists():
        return [migration.name for migration in known]
    try:
        _check_file(path)
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            applied = _applied(connection)
        finally:
            connection.close()
    except (OSError, sqlite3.Error) as error:
        raise DatabaseUnreachable(f"database {path}: {_plain_problem(error)}") from None
    return [migration.name for migration in known if migration.version not in applied]


def _applied(connection: sqlite3.Connection) -> set[int]:
    try:
        return {row[0] for row in connection.execute(Q["applied_migrations"]).fetchall()}
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            raise
        return set()  # no migrations table: nothing applied yet


def _check_file(path: Path) -> None:
    """What SQLite would not say plainly (or would silently accept) about the path, as an OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return  # a new database
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a database file")
    if not path.is_file():
        raise OSError(errno.EINVAL, "is not a regular file (a device or a pipe?)")
    if path.stat().st_size == 0:
        # SQLite takes an empty file as a new database; here it more likely is one that lost its data.
        raise OSError(errno.EINVAL, "is an empty file (0 bytes), not a footage-bot database; delete it to start anew")


def _plain_problem(error: OSError | sqlite3.Error) -> str:
    if isinstance(error, OSError):
        return error.strerror or str(error)
    text = str(error)
    if "locked" in text or "busy" in text:
        return "is locked by another process (another bot, or a tool holding a write lock); stop it and retry"
    if "not a database" in text:
        return "is not an SQLite database (damaged, or another kind of file)"
    if "malformed" in text or "corrupt" in text:
        return "is damaged (SQLite: database disk image is malformed); restore it from a backup"
    if "readonly" in text or "read-only" in text:
        return "is read-only; give the bot write access or set DATABASE_PATH"
    if "unable to open" in text:
        return "cannot be opened (check the folder exists and is writable)"
    return f"SQLite error: {text}"


def _prepare(connection: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
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
