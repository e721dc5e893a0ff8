from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.jobs.domain import Job, JobState
from bot.store.records import LedgerEntry
from bot.store.store import Store
from bot.store.transaction import InvalidTransition, StaleState
from tests.core.conftest import origin, request


def a_job(job_id: str = "ABCDEFGH") -> Job:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    return Job(
        id=job_id, origin=origin(1), request=request(), state=JobState.QUEUED, created_at=now, updated_at=now,
        cost_seconds=2, backend="demo",
    )  # fmt: skip


async def test_open_creates_folder_applies_migrations_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "footage.db"
    store = await Store.open(path)
    await store.close()
    store = await Store.open(path)  # a second start applies nothing twice
    await store.close()
    async with aiosqlite.connect(path) as db:
        assert (await (await db.execute("PRAGMA journal_mode")).fetchone()) == ("wal",)
        versions = await (await db.execute("SELECT version FROM schema_migrations")).fetchall()
    assert versions == [(1,)]


async def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "f.db")
    with pytest.raises(aiosqlite.IntegrityError):
        async with store.transaction() as tx:
            await tx.add_ledger(a_job("NOTSAVED"), [LedgerEntry("reserve", 2, 1)], 0.0)
    await store.close()


async def test_invalid_and_stale_transitions_are_refused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "t.db")
    job = a_job()
    async with store.transaction() as tx:
        await tx.insert_job(job)
    with pytest.raises(InvalidTransition):
        async with store.transaction() as tx:
            await tx.move_job(job, JobState.DELIVERED, 1.0)
    async with store.transaction() as tx:
        moved = await tx.move_job(job, JobState.SUBMITTING, 1.0)
    assert moved.state is JobState.SUBMITTING
    with pytest.raises(StaleState):  # `job` still says queued; the row no longer does
        async with store.transaction() as tx:
            await tx.move_job(job, JobState.CANCELED, 2.0)
    async with store.reading() as tx:
        stored = await tx.get_job(job.id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    await store.close()


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "r.db")

    async def insert_then_fail() -> None:
        async with store.transaction() as tx:
            await tx.insert_job(a_job())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    async with store.reading() as tx:
        assert await tx.get_job("ABCDEFGH") is None
    await store.close()


async def test_a_one_statement_write_moves_at_once_and_refuses_a_second_statement(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "one.db")
    job = a_job()
    async with store.transaction() as tx:
        await tx.insert_job(job)
    async with store.one_statement() as tx:
        moved = await tx.move_job(job, JobState.SUBMITTING, 1.0, backend_job_id="remote-1")
    assert (moved.state, moved.backend_job_id) == (JobState.SUBMITTING, "remote-1")

    async def two_statements() -> None:
        async with store.one_statement() as tx:
            await tx.move_job(moved, JobState.RUNNING, 2.0)
            await tx.add_ledger(moved, [LedgerEntry("release", -2, -1)], 2.0)

    with pytest.raises(RuntimeError, match="second statement"):
        await two_statements()
    async with store.reading() as tx:
        stored = await tx.get_job(job.id)
        usage, _ = await tx.user_usage(job.guild_id, job.user_id, (0.0, 2e9), (0.0, 2e9))
    await store.close()
    assert stored is not None and stored.state is JobState.RUNNING  # the first statement stood alone
    assert (usage.seconds, usage.jobs) == (0, 0)  # the second never reached the database
