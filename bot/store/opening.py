"""Opening the store that the settings (or a database URL) name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext

from bot.settings import Settings
from bot.store.group_commit_store import GroupCommitStore
from bot.store.store import Store
from bot.store.urls import sqlite_path, sqlite_url, store_kind


def configured_url(settings: Settings) -> str:
    """DATABASE_URL if set, else the SQLite file at DATABASE_PATH."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()  # it goes on the wire: the store connects with it
    return sqlite_url(settings.database_path)


async def pending_migrations(url: str) -> list[str]:
    """The migrations the database lacks, without applying any; DatabaseUnreachable if it cannot be reached."""
    if store_kind(url) == "sqlite":
        from bot.store.sqlite.database import pending_migrations as sqlite_pending

        return await asyncio.to_thread(sqlite_pending, sqlite_path(url))
    from bot.store.postgres.database import PostgresDatabase

    database = await PostgresDatabase.open(url, migrate=False)
    try:
        return await database.pending_migrations()
    finally:
        await database.close()


@asynccontextmanager
async def scratch_database(url: str) -> AsyncIterator[str]:
    """A URL for an empty store beside what `url` holds, removed afterwards: a SQLite URL
    names a new file (the caller's to delete), a PostgreSQL one gets a schema of its own."""
    if store_kind(url) == "sqlite":
        yield url
        return
    from bot.store.postgres.scratch import scratch_schema

    async with scratch_schema(url) as scratch:
        yield scratch


async def open_store(url: str) -> Store:
    """Open (creating or migrating as needed) the store `url` names."""
    # Each driver is imported only when chosen: a SQLite install never loads psycopg.
    if store_kind(url) == "sqlite":
        from bot.store.sqlite.database import Database
        from bot.store.sqlite.transaction import SqliteTx

        return GroupCommitStore(await Database.open(sqlite_path(url)), "sqlite", SqliteTx)
    from bot.store.postgres.database import PostgresDatabase
    from bot.store.postgres.transaction import PostgresTx

    return GroupCommitStore(await PostgresDatabase.open(url), "postgresql", PostgresTx)


def sole_owner(url: str) -> AbstractContextManager[None]:
    """For a process that runs the bot: own a SQLite file for its life (DatabaseInUse if another does).

    PostgreSQL coordinates several processes itself (leases), so it needs no lock here.
    """
    if store_kind(url) != "sqlite":
        return nullcontext()
    from bot.store.sqlite.owner import sole_owner as own_file

    return own_file(sqlite_path(url))
