"""Several processes on one PostgreSQL database: each store here has its own pool and thread,
so their transactions really run at the same time, as two processes' would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from bot.domain.records import BlockRule
from bot.store.opening import open_store
from bot.store.store import Store
from bot.store.transaction import Tx
from tests.core.conftest import GUILD


@pytest.fixture
async def two_stores(postgres_url: str) -> AsyncIterator[tuple[Store, Store]]:
    first = await open_store(postgres_url)
    second = await open_store(postgres_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_a_guild_setting_changed_by_one_process_is_seen_by_the_other(two_stores: tuple[Store, Store]) -> None:
    gateway, worker = two_stores
    assert (await worker.read(lambda tx: tx.guild_config(9))).paused is False  # now cached in the worker
    await gateway.write(lambda tx: tx.update_guild_config(9, paused=True))
    await gateway.write(lambda tx: tx.add_block(9, BlockRule("fog", False)))
    config = await worker.read(lambda tx: tx.guild_config(9))
    assert config.paused is True and config.blocklist == [BlockRule("fog", False)]
    await worker.write(lambda tx: tx.set_user_tier(9, 90, "gold"))
    assert await gateway.read(lambda tx: tx.user_tier(9, 90)) == "gold"


async def test_a_batch_that_loses_a_deadlock_runs_again_and_both_succeed(two_stores: tuple[Store, Store]) -> None:
    runs: list[str] = []

    def refused(tx: Tx) -> None:
        tx.set_meta("refused", "never")
        raise RuntimeError("refused")  # first in each batch: the locks below are taken under savepoints

    def lock_in_order(name: str, first: int, second: int) -> Callable[[Tx], str]:
        def work(tx: Tx) -> str:
            runs.append(name)
            tx.lock_admission(GUILD, first, whole_guild=False)
            time.sleep(0.3)  # both now hold their first lock and want the other's
            tx.lock_admission(GUILD, second, whole_guild=False)
            tx.set_meta(name, "done")
            return name

        return work

    one, two = two_stores
    results = await asyncio.gather(
        one.write(refused),
        one.write(lock_in_order("one", 1, 2)),
        two.write(refused),
        two.write(lock_in_order("two", 2, 1)),
        return_exceptions=True,
    )
    assert [type(result) for result in results[::2]] == [RuntimeError, RuntimeError]
    assert results[1::2] == ["one", "two"]
    assert sorted(runs) in (["one", "one", "two"], ["one", "two", "two"])  # the deadlock's loser ran twice
    assert await one.read(lambda tx: (tx.get_meta("one"), tx.get_meta("two"), tx.get_meta("refused"))) == (
        "done",
        "done",
        None,
    )


async def test_a_store_that_cannot_reach_its_server_says_so_without_the_password(unused_tcp_port: int) -> None:
    from bot.store.store import DatabaseUnreachable

    url = f"postgresql://footage:s3cret-pass@127.0.0.1:{unused_tcp_port}/footage"
    with pytest.raises(DatabaseUnreachable) as error, contextlib.suppress(asyncio.CancelledError):
        await open_store(url)
    assert "s3cret-pass" not in str(error.value)
    assert f"postgresql://footage:***@127.0.0.1:{unused_tcp_port}/footage" in str(error.value)


async def test_a_connection_the_server_dropped_while_idle_is_replaced_before_the_next_batch(
    postgres_url: str,
) -> None:
    store = await open_store(postgres_url)
    try:
        await store.write(lambda tx: tx.set_meta("before", "yes"))
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # a restart or an idle timeout, say
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await store.write(lambda tx: tx.set_meta("after", "yes"))
        assert await store.read(lambda tx: (tx.get_meta("before"), tx.get_meta("after"))) == ("yes", "yes")
    finally:
        await store.close()
