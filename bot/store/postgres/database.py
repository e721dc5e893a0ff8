"""PostgreSQL: a psycopg connection pool, numbered migrations, and group commit on one thread.

Work functions stay synchronous, as on SQLite, and each batch runs on one thread
of our own with a blocking psycopg connection taken from the pool: one hand-off
to that thread and one COMMIT for every function in the batch. An asyncio driver
would await each statement on the loop instead, paying a loop round trip per
statement (the cost group commit exists to remove), and PostgreSQL's own limit
on a small host is commits per second, which batching divides.

The pool keeps the connections healthy (a broken one is replaced, not reused),
and gives the extra connections a process needs beside the batches (for example
one that LISTENs). Statements run at READ COMMITTED; what an enqueue must hold
still, it locks (`lock_admission`), and a batch that loses a deadlock to another
process runs again (see `bot/store/batches.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from bot.store.batches import GroupCommit, Item, run_batch
from bot.store.migrations import Migration, migrations
from bot.store.postgres.notifications import listen
from bot.store.postgres.queries import Q
from bot.store.store import DatabaseUnreachable
from bot.store.urls import redacted

log = logging.getLogger(__name__)

PgConnection = psycopg.Connection[Any]
# Connections: one for the batches, the rest for what runs beside them.
POOL_SIZE = 4
CONNECT_TIMEOUT_SECONDS = 10.0
_OPEN_STATES = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


class PostgresTransactions:
    """Transaction control on an autocommit connection: BEGIN and COMMIT are ours to send."""

    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    def begin(self, writes: bool) -> None:
        self._connection.execute("BEGIN")

    def commit(self) -> None:
        self._connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._connection.info.transaction_status in _OPEN_STATES:
            self._connection.execute("ROLLBACK")

    def savepoint(self) -> None:
        self._connection.execute("SAVEPOINT item")

    def rollback_to_savepoint(self) -> None:
        self._connection.execute("ROLLBACK TO SAVEPOINT item")

    def release_savepoint(self) -> None:
        self._connection.execute("RELEASE SAVEPOINT item")

    def failed(self) -> bool:
        return self._connection.info.transaction_status == TransactionStatus.INERROR

    def conflict(self, error: BaseException) -> bool:
        return isinstance(error, errors.DeadlockDetected | errors.SerializationFailure)

    def transient(self, error: BaseException) -> bool:
        return is_transient(error)


def is_transient(error: BaseException) -> bool:
    """The server's "not now": a lock it would not wait for, a full disk, an I/O error."""
    return isinstance(error, errors.LockNotAvailable | errors.DiskFull | errors.IoError)


class PostgresDatabase(GroupCommit[PgConnection]):
    def __init__(self, pool: ConnectionPool[PgConnection], executor: ThreadPoolExecutor, url: str) -> None:
        super().__init__()
        self.pool = pool
        self._executor = executor
        self._url = url  # for the one connection beside the pool that LISTENs
        self._server = redacted(url)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> PostgresDatabase:
        """Connect (within CONNECT_TIMEOUT_SECONDS) and, unless told not to, apply pending migrations."""
        await asyncio.to_thread(_reach, url)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="footage-postgres")
        pool: ConnectionPool[PgConnection] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True},
            # A connection the server dropped while idle (a restart, an idle timeout) is replaced
            # before a batch runs on it; the check is one empty query per batch.
            check=ConnectionPool.check_connection,
            open=False,
            name="footage",
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
        database = cls(pool, executor, url)
        try:
            await database._on_thread(pool.open, True, CONNECT_TIMEOUT_SECONDS)
            if migrate:
                await database._on_thread(database._with_connection, _migrate)
        except BaseException:
            await database._shut_down()
            raise
        return database

    async def close(self) -> None:
        """Finish every batch already handed over, then close the pool."""
        await self._finish_batches()
        await self._shut_down()

    async def pending_migrations(self) -> list[str]:
        """The names of the migrations not applied yet."""
        pending: list[str] = await self._on_thread(self._with_connection, _pending)
        return pending

    async def _shut_down(self) -> None:
        await self._on_thread(self.pool.close)
        self._executor.shutdown(wait=True)

    def _transient(self, error: BaseException) -> bool:
        return is_transient(error)

    @property
    def _label(self) -> str:
        return self._server

    async def listen(self, channels: Sequence[str], on_notice: Callable[[str, str], None]) -> None:
        await listen(self._url, channels, on_notice)

    def _run_on_thread(self, batch: list[Item[PgConnection]]) -> Awaitable[None]:
        return self._on_thread(self._with_connection, _batch, batch)

    def _on_thread(self, function: Any, *args: Any) -> Awaitable[Any]:
        return asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _with_connection(self, function: Any, *args: Any) -> Any:
        with self.pool.connection() as connection:
            return function(connection, *args)


def _reach(url: str) -> None:
    """Connect once, so a failure says why (the pool would only time out), in words with no password."""
    try:
        psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_SECONDS)).close()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        password = conninfo_to_dict(url).get("password")
        if password:
            reason = reason.replace(str(password), "***")
        raise DatabaseUnreachable(f"cannot reach {redacted(url)}: {reason}") from None


def _batch(connection: PgConnection, batch: list[Item[PgConnection]]) -> None:
    run_batch(PostgresTransactions(connection), connection, batch)


def _applied(connection: PgConnection) -> set[int]:
    connection.execute(Q["create_migrations_table"])
    return {row[0] for row in connection.execute(Q["applied_migrations"]).fetchall()}


def _pending(connection: PgConnection) -> list[str]:
    with connection.transaction():
        applied = _applied(connection)
    return [migration.name for migration in _package_migrations() if migration.version not in applied]


def _package_migrations() -> list[Migration]:
    return migrations("bot.store.postgres")


def _migrate(connection: PgConnection) -> None:
    with connection.transaction():  # DDL is transactional here: all of a start's migrations, or none
        connection.execute(Q["lock_migrations"])
        applied = _applied(connection)
        for migration in _package_migrations():
            if migration.version in applied:
                continue
            log.info("applying database migration %s", migration.name)
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(Q["record_migration"], (migration.version, migration.name))
