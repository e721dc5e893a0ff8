"""The store's behaviour tests run on every implementation (`store_url`, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store.opening import open_store
from bot.store.store import Store


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()  # even when the test fails: an open connection would keep pytest alive
