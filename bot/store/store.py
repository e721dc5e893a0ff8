"""The store: the only door to the database. `transaction()` for writes, `reading()` for reads."""

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
    async def reading(self) -> AsyncIterator[Tx]:
        async with self.database.reading() as connection:
            yield Tx(connection)
