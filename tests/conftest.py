"""Checks that apply to every test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.urls import sqlite_url
from tests.postgres_cluster import PostgresCluster, PostgresUnavailable, postgres_required, running_cluster


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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL server for the whole run, started only if a test asks for it."""
    try:
        with running_cluster() as cluster:
            yield cluster
    except PostgresUnavailable as missing:
        if postgres_required():
            pytest.fail(f"PostgreSQL tests are required here (CI or FOOTAGE_REQUIRE_POSTGRES=1): {missing}")
        pytest.skip(f"PostgreSQL TESTS SKIPPED: {missing}")


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database on the test cluster, dropped after the test."""
    url = postgres_cluster.new_database(request.node.name)
    yield url
    postgres_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind: a SQLite file, or a database on the test cluster."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "store.db")
    url: str = request.getfixturevalue("postgres_url")
    return url
