"""Which store a database URL names, and opening it.

`sqlite:///data/footage.db` is a file path after the third slash, relative or (with a
fourth slash) absolute, the convention SQLAlchemy and others use.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.store import Store

SQLITE_PREFIX = "sqlite:///"


class UnsupportedDatabase(ValueError):
    """A database URL no store here speaks; the message names the scheme, never the URL."""


def sqlite_url(path: Path) -> str:
    return f"{SQLITE_PREFIX}{path}"


async def open_store(url: str) -> Store:
    """Open (creating or migrating as needed) the store `url` names."""
    if url.startswith(SQLITE_PREFIX):
        from bot.store.sqlite.store import SqliteStore

        return await SqliteStore.open(Path(url.removeprefix(SQLITE_PREFIX)))
    scheme = url.split(":", 1)[0] if ":" in url else "(none)"
    raise UnsupportedDatabase(f"database URLs start with {SQLITE_PREFIX}; this one's scheme is {scheme}")
