"""Money in the store, on every implementation: whole micro-units that add up exactly, the
per-job reservation, the guild's spending caps, and the move from the old REAL cost."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import psycopg

from bot.domain.records import JobLedger, LedgerEntry, Usage
from bot.quotas import ledger
from bot.store.migrations import migrations
from bot.store.opening import open_store
from bot.store.postgres.queries import Q as POSTGRES_Q
from bot.store.sqlite.queries import Q as SQLITE_Q
from bot.store.store import Store
from bot.store.transaction import Tx
from bot.store.urls import sqlite_path, store_kind
from tests.core.conftest import GUILD
from tests.store.test_store import a_job

# Ten charges of 0.1 each: 1.0 exactly in micro-units, 0.9999999999999999 as floats.
TENTH = 100_000


async def test_money_adds_up_exactly_in_the_ledger_the_usage_and_the_check(store: Store) -> None:
    jobs = [a_job(f"JOB{index:05d}") for index in range(10)]
    for job in jobs:
        job.cost_micros = 2 * TENTH  # 2 s reserved at 0.1 a second

    def reserve_all(tx: Tx) -> None:
        for job in jobs:
            tx.insert_job(job)
            ledger.reserve(tx, job, 1.0)

    await store.write(reserve_all)
    window = (0.0, 4e9)
    reserved = await store.read(lambda tx: tx.guild_usage(GUILD, *window))
    assert reserved == Usage(seconds=20, jobs=10, cost_micros=20 * TENTH)
    # A reservation is what an unfinished job holds, in money too.
    assert await store.read(ledger.mismatches) == []
    assert await store.read(lambda tx: tx.get_job(jobs[0].id)) == jobs[0]

    def charge_one_second_each(tx: Tx) -> None:
        for job in jobs:
            ledger.settle(tx, job, 1, 2.0)

    await store.write(charge_one_second_each)
    settled = await store.read(lambda tx: tx.guild_usage(GUILD, *window))
    assert settled == Usage(seconds=10, jobs=10, cost_micros=10 * TENTH)
    [row] = await store.read(lambda tx: tx.usage_rows(GUILD, 0.0))
    assert (row.seconds, row.jobs, row.cost_micros) == (10, 10, 10 * TENTH)
    ledgers = await store.read(lambda tx: tx.job_ledgers())
    assert JobLedger(jobs[0].id, "queued", 2, 1, 1, 2 * TENTH, TENTH, TENTH) in ledgers
    # Still queued, yet charged: the check sees seconds and money both out of line.
    [first, *_] = await store.read(ledger.mismatches)
    assert (first.expected_seconds, first.ledger_seconds, first.expected_micros, first.ledger_micros) == (
        2,
        1,
        2 * TENTH,
        TENTH,
    )


async def test_a_ledger_off_in_money_alone_is_found(store: Store) -> None:
    job = a_job()
    job.cost_micros = 5 * TENTH

    def reserve(tx: Tx) -> None:
        tx.insert_job(job)
        ledger.reserve(tx, job, 1.0)

    await store.write(reserve)
    assert await store.read(ledger.mismatches) == []
    # The right seconds, but a cent too much.
    await store.write(lambda tx: tx.add_ledger(job, [LedgerEntry("reserve", 0, 0, 10_000)], 1.0))
    [mismatch] = await store.read(ledger.mismatches)
    assert (mismatch.expected_seconds, mismatch.ledger_seconds) == (2, 2)
    assert (mismatch.expected_micros, mismatch.ledger_micros) == (5 * TENTH, 5 * TENTH + 10_000)


async def test_a_guilds_spending_caps_are_kept_and_cleared(store: Store) -> None:
    await store.write(
        lambda tx: tx.update_guild_config(7, daily_budget_micros=2_500_000, monthly_budget_micros=40_000_000)
    )
    config = await store.read(lambda tx: tx.guild_config(7))
    assert (config.daily_budget_micros, config.monthly_budget_micros) == (2_500_000, 40_000_000)
    await store.write(lambda tx: tx.update_guild_config(7, daily_budget_micros=None))
    config = await store.read(lambda tx: tx.guild_config(7))
    assert (config.daily_budget_micros, config.monthly_budget_micros) == (None, 40_000_000)


def _money_migration(url: str) -> tuple[int, Callable[[], Any], dict[str, str], str]:
    """The version of the money migration, a connection, the statements, the placeholder."""
    if store_kind(url) == "sqlite":
        package, queries, mark = "bot.store.sqlite", SQLITE_Q, "?"
        connect: Callable[[], Any] = lambda: sqlite3.connect(sqlite_path(url))  # noqa: E731
    else:
        package, queries, mark = "bot.store.postgres", POSTGRES_Q, "%s"
        connect = lambda: psycopg.connect(url)  # noqa: E731
    [money] = [migration for migration in migrations(package) if migration.name.endswith("_money_budgets.sql")]
    return money.version, connect, queries, mark


async def test_charges_made_before_money_was_exact_keep_their_amount(store_url: str) -> None:
    """A database from before the money migration: its REAL costs become micro-units, the check still passes."""
    version, connect, queries, mark = _money_migration(store_url)
    package = "bot.store.sqlite" if store_kind(store_url) == "sqlite" else "bot.store.postgres"
    with closing(connect()) as connection:
        connection.execute(queries["create_migrations_table"])
        for migration in migrations(package):
            if migration.version < version:
                for statement in migration.statements:
                    connection.execute(statement)
                connection.execute(queries["record_migration"], (migration.version, migration.name))
        values = ", ".join([mark] * 16)
        connection.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, upload_limit, prompt, model, seconds, aspect, "
            f"state, cost_seconds, backend, backend_data, created_at, updated_at, kind) VALUES ({values})",
            ("OLDJOB01", GUILD, 2, 3, 10, "fog", "m", 4, "16:9", "delivered", 4, "demo", "{}", 1.0, 2.0, "generate"),
        )
        rows = [("reserve", 4, 1, 0.0), ("release", -4, -1, 0.0), ("charge", 3, 1, 3 * 0.1)]
        for entry, seconds, count, cost in rows:
            connection.execute(
                "INSERT INTO ledger (job_id, guild_id, user_id, model, entry, seconds, jobs, cost, window_at, at) "
                f"VALUES ({', '.join([mark] * 10)})",
                ("OLDJOB01", GUILD, 3, "m", entry, seconds, count, cost, 1.0, 2.0),
            )
        connection.commit()
    store = await open_store(store_url)
    try:
        [row] = await store.read(lambda tx: tx.usage_rows(GUILD, 0.0))
        assert (row.seconds, row.cost_micros) == (3, 300_000)  # 0.30000000000000004 was stored
        assert await store.read(ledger.mismatches) == []
        assert (await store.read(lambda tx: tx.get_job("OLDJOB01"))).cost_micros == 0  # type: ignore[union-attr]
    finally:
        await store.close()
