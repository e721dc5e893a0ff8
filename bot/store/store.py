"""The store: the only door to the database.

`write(work)` and `read(work)` run `work(tx)` on the database's thread in the next
group-committed batch (see Database). A write is atomic: if `work` raises,
everything it wrote is rolled back and the exception reaches the caller. `work`
may run more than once, so it only computes and queries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.store.database import Database
from bot.store.guild_cache import GuildCache
from bot.store.transaction import Tx

T = TypeVar("T")


class Store:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._guild_cache = GuildCache()

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.database.close()

    async def write(self, work: Callable[[Tx], T]) -> T:
        def write_or_forget(connection: sqlite3.Connection) -> T:
            try:
                return work(Tx(connection, self._guild_cache))
            except BaseException:
                self._guild_cache.clear()  # it may hold what the rollback is about to undo
                raise

        return await self.database.run(write_or_forget, writes=True)

    async def read(self, work: Callable[[Tx], T]) -> T:
        return await self.database.run(lambda connection: work(Tx(connection, self._guild_cache)), writes=False)
