"""The store: the only door to the database. `transaction()` or `one_statement()` to write, `reading()` to read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.store.database import Database
from bot.store.transaction import Tx


class Store:
    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.database.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.database.transaction() as connection:
            yield Tx(connection)

    @asynccontextmanager
    async def one_statement(self) -> AsyncIterator[Tx]:
        """A write of exactly one statement, which SQLite makes atomic on its own.

        Two trips to the database thread fewer than `transaction()` (no BEGIN, no
        COMMIT); a second statement raises, so nothing half-done can slip through.
        """
        async with self.database.serialized() as connection:
            yield Tx(connection, statement_limit=1)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Tx]:
        async with self.database.serialized() as connection:
            yield Tx(connection)
