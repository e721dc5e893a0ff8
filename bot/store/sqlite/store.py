"""`Store` on SQLite: every unit of work runs on the one connection's thread (see Database)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot.store.sqlite.database import Database
from bot.store.sqlite.transaction import SqliteTx
from bot.store.store import Store
from bot.store.transaction import Tx

T = TypeVar("T")


class SqliteStore(Store):
    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        return cls(await Database.open(path))

    @property
    def kind(self) -> str:
        return "sqlite"

    @property
    def batches(self) -> int:
        return self.database.batches

    async def close(self) -> None:
        await self.database.close()

    def _run(self, work: Callable[[Tx], T], *, writes: bool) -> Awaitable[T]:
        cache = self._guild_cache

        def on_connection(connection: sqlite3.Connection) -> T:
            return work(SqliteTx(connection, cache))

        return self.database.run(on_connection, writes=writes)
