"""Checks that apply to every test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


def _sqlite_workers() -> set[threading.Thread]:
    # aiosqlite runs each connection on a non-daemon thread: one left open keeps the
    # interpreter (and so pytest, and the bot) from ever exiting.
    return {
        thread for thread in threading.enumerate() if thread.is_alive() and "_connection_worker_thread" in thread.name
    }


@pytest.fixture(autouse=True)
def _no_leaked_sqlite_connection() -> Iterator[None]:
    before = _sqlite_workers()
    yield
    deadline = time.monotonic() + 2.0
    while (leaked := _sqlite_workers() - before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not leaked, f"{len(leaked)} aiosqlite connection(s) left open by this test"
