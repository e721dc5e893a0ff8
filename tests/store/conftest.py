"""The store's behaviour tests run on every implementation: `store_url` is one per store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.opening import open_store
from bot.store.store import Store
from bot.store.urls import sqlite_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind: a SQLite file, or a database on the test cluster."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "store.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()  # even when the test fails: an open connection would keep pytest alive
