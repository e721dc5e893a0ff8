"""Checks that apply to every test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

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
def fresh_store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """Makes a fresh, empty database of each kind at every call: a SQLite file, or a database on
    the test cluster (a property test wants one per example); the databases go afterwards."""
    cluster: PostgresCluster | None = request.getfixturevalue("postgres_cluster") if request.param != "sqlite" else None
    made: list[str] = []

    def make() -> str:
        if cluster is None:
            return sqlite_url(tmp_path_factory.mktemp("store") / "store.db")
        made.append(cluster.new_database(request.node.name))
        return made[-1]

    yield make
    for url in made:
        assert cluster is not None
        cluster.drop_database(url)


@pytest.fixture
def store_url(fresh_store_url: Callable[[], str]) -> str:
    """A fresh, empty database of each kind."""
    return fresh_store_url()
