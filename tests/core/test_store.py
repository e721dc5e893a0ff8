from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.jobs.domain import Job, JobState
from bot.store.records import LedgerEntry
from bot.store.store import Store
from bot.store.transaction import InvalidTransition, StaleState, Tx
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
        await store.write(lambda tx: tx.add_ledger(a_job("NOTSAVED"), [LedgerEntry("reserve", 2, 1)], 0.0))
    await store.close()


async def test_invalid_and_stale_transitions_are_refused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "t.db")
    job = a_job()
    await store.write(lambda tx: tx.insert_job(job))
    with pytest.raises(InvalidTransition):
        await store.write(lambda tx: tx.move_job(job, JobState.DELIVERED, 1.0))
    moved = await store.write(lambda tx: tx.move_job(job, JobState.SUBMITTING, 1.0))
    assert moved.state is JobState.SUBMITTING
    with pytest.raises(StaleState):  # `job` still says queued; the row no longer does
        await store.write(lambda tx: tx.move_job(job, JobState.CANCELED, 2.0))
    stored = await store.read(lambda tx: tx.get_job(job.id))
    assert stored is not None and stored.state is JobState.SUBMITTING
    await store.close()


async def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "r.db")

    def insert_then_fail(tx: Tx) -> None:
        tx.insert_job(a_job())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.write(insert_then_fail)
    assert await store.read(lambda tx: tx.get_job("ABCDEFGH")) is None
    await store.close()


async def test_writes_waiting_together_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "batch.db")
    first, second = a_job("AAAAAAAA"), a_job("BBBBBBBB")

    def insert_then_fail(tx: Tx) -> None:
        tx.insert_job(second)
        tx.add_ledger(second, [LedgerEntry("reserve", 2, 1)], 1.0)
        raise RuntimeError("refused")

    def move_first(tx: Tx) -> Job:
        return tx.move_job(first, JobState.SUBMITTING, 2.0)

    batches = store.database.batches
    outcomes = await asyncio.gather(
        store.write(lambda tx: tx.insert_job(first)),
        store.write(insert_then_fail),
        store.write(move_first),
        return_exceptions=True,
    )
    assert store.database.batches == batches + 1  # one trip to the database thread, one COMMIT
    assert outcomes[0] is None
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], Job) and outcomes[2].state is JobState.SUBMITTING  # saw the first write
    assert await store.read(lambda tx: tx.get_job(second.id)) is None
    usage, _ = await store.read(lambda tx: tx.user_usage(second.guild_id, second.user_id, (0.0, 2e9), (0.0, 2e9)))
    assert (usage.seconds, usage.jobs) == (0, 0)  # the failed write's ledger row went with it
    await store.close()


async def test_a_write_whose_caller_gave_up_before_its_batch_never_runs(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "cancel.db")
    job = a_job()
    write = asyncio.ensure_future(store.write(lambda tx: tx.insert_job(job)))
    await asyncio.sleep(0)  # queued for the next batch, which has not left yet
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    assert await store.read(lambda tx: tx.get_job(job.id)) is None
    await store.close()


async def test_closing_finishes_writes_already_handed_over(tmp_path: Path) -> None:
    path = tmp_path / "close.db"
    store = await Store.open(path)
    job = a_job()
    write = asyncio.ensure_future(store.write(lambda tx: tx.insert_job(job)))
    await asyncio.sleep(0)
    await store.close()
    await write
    with pytest.raises(RuntimeError, match="closed"):
        await store.read(lambda tx: tx.get_job(job.id))
    store = await Store.open(path)
    assert await store.read(lambda tx: tx.get_job(job.id)) is not None
    await store.close()
