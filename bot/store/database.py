"""The SQLite connection: pragmas, numbered migrations, and serialized transactions.

One aiosqlite connection serves the process. An asyncio lock serializes every
statement group, so a transaction never interleaves with another task's reads.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Database:
    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open (creating the folder and file), set pragmas, apply pending migrations."""
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        for pragma in (
            "PRAGMA journal_mode = WAL",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA foreign_keys = ON",
            # WAL + NORMAL: durable across an application crash, which is what we guard.
            "PRAGMA synchronous = NORMAL",
        ):
            # Fetch the pragma's answer: an unread result keeps a statement open and
            # makes the next COMMIT fail with "SQL statements in progress".
            await connection.execute_fetchall(pragma)
        database = cls(connection, path)
        try:
            await database._migrate()
        except BaseException:
            await connection.close()  # its worker thread would otherwise keep the process alive
            raise
        return database

    async def close(self) -> None:
        async with self._lock:
            await self._connection.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        async with self._lock:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                await self._connection.execute("ROLLBACK")
                raise
            await self._connection.execute("COMMIT")

    @asynccontextmanager
    async def serialized(self) -> AsyncIterator[aiosqlite.Connection]:
        """The lock alone, no transaction: reads, or one statement SQLite commits by itself."""
        async with self._lock:
            yield self._connection

    async def _migrate(self) -> None:
        migrations = sorted(
            (int(match.group(1)), entry.name, entry.read_text(encoding="utf-8"))
            for entry in resources.files("bot.store").joinpath("migrations").iterdir()
            if (match := _MIGRATION_NAME.match(entry.name))
        )
        async with self.transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
            )
            async with db.execute("SELECT version FROM schema_migrations") as cursor:
                applied = {row[0] for row in await cursor.fetchall()}
            for version, name, script in migrations:
                if version in applied:
                    continue
                log.info("applying database migration %s", name)
                for statement in _statements(script):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [part.strip() for part in without_comments.split(";") if part.strip()]
