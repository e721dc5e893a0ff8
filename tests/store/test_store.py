from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import psycopg
import pytest

from bot.domain.jobs import Job, JobState, WaitingJob
from bot.domain.records import BlockRule, GuildConfig, JobLedger, LedgerEntry
from bot.domain.tiers import Tier
from bot.store.group_commit_store import GroupCommitStore
from bot.store.opening import open_store, pending_migrations
from bot.store.postgres.queries import STATEMENTS
from bot.store.sqlite.queries import STATEMENTS as SQLITE_STATEMENTS
from bot.store.sqlite.transaction import SqliteTx
from bot.store.statement_tx import StatementTx
from bot.store.store import Store
from bot.store.transaction import InvalidTransition, LeaseLost, StaleState, Tx
from bot.store.urls import sqlite_path, sqlite_url, store_kind
from tests.core.conftest import origin, request

TIER = Tier("gold", 600, 6000, max_running=2, max_queued=5, max_clip_seconds=10, weight=2.0)


def a_job(job_id: str = "ABCDEFGH") -> Job:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    return Job(
        id=job_id, origin=origin(1), request=request(), state=JobState.QUEUED, created_at=now, updated_at=now,
        cost_seconds=2, backend="demo",
    )  # fmt: skip


async def test_migrations_apply_once_and_are_then_all_applied(store_url: str) -> None:
    assert await pending_migrations(store_url) != []
    store = await open_store(store_url)
    await store.close()
    store = await open_store(store_url)  # a second start applies nothing twice
    await store.close()
    assert await pending_migrations(store_url) == []


async def test_a_jobs_sound_is_kept_as_asked_or_as_unknown(store: Store) -> None:
    for job_id, sound in (("SOUNDONE", True), ("SOUNDOFF", False), ("SOUNDOLD", None)):
        job = a_job(job_id)
        job.request = request(audio=sound)
        await store.write(lambda tx, job=job: tx.insert_job(job))
        stored = await store.read(lambda tx, job_id=job_id: tx.get_job(job_id))
        assert stored is not None and stored.request.audio is sound


async def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        await store.write(lambda tx: tx.add_ledger(a_job("NOTSAVED"), [LedgerEntry("reserve", 2, 1)], 0.0))


async def test_invalid_and_stale_transitions_are_refused(store: Store) -> None:
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


async def test_a_failed_write_leaves_nothing_behind(store: Store) -> None:

    def insert_then_fail(tx: Tx) -> None:
        tx.insert_job(a_job())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.write(insert_then_fail)
    assert await store.read(lambda tx: tx.get_job("ABCDEFGH")) is None


async def test_writes_waiting_together_share_one_commit_and_fail_alone(store: Store) -> None:
    first, second = a_job("AAAAAAAA"), a_job("BBBBBBBB")

    def insert_then_fail(tx: Tx) -> None:
        tx.insert_job(second)
        tx.add_ledger(second, [LedgerEntry("reserve", 2, 1)], 1.0)
        raise RuntimeError("refused")

    def move_first(tx: Tx) -> Job:
        return tx.move_job(first, JobState.SUBMITTING, 2.0)

    batches = store.batches
    outcomes = await asyncio.gather(
        store.write(lambda tx: tx.insert_job(first)),
        store.write(insert_then_fail),
        store.write(move_first),
        return_exceptions=True,
    )
    assert store.batches == batches + 1  # one trip to the database thread, one COMMIT
    assert outcomes[0] is None
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], Job) and outcomes[2].state is JobState.SUBMITTING  # saw the first write
    assert await store.read(lambda tx: tx.get_job(second.id)) is None
    usage, _ = await store.read(lambda tx: tx.user_usage(second.guild_id, second.user_id, (0.0, 2e9), (0.0, 2e9)))
    assert (usage.seconds, usage.jobs) == (0, 0)  # the failed write's ledger row went with it


async def test_a_write_whose_caller_gave_up_before_its_batch_never_runs(store: Store) -> None:
    job = a_job()
    write = asyncio.ensure_future(store.write(lambda tx: tx.insert_job(job)))
    write.cancel()  # queued for the next batch, which has not left yet (the loop has not run since)
    with pytest.raises(asyncio.CancelledError):
        await write
    assert await store.read(lambda tx: tx.get_job(job.id)) is None


async def test_closing_finishes_writes_already_handed_over(store_url: str) -> None:
    store = await open_store(store_url)
    job = a_job()
    write = asyncio.ensure_future(store.write(lambda tx: tx.insert_job(job)))
    await asyncio.sleep(0)
    await store.close()
    await write
    with pytest.raises(RuntimeError, match="closed"):
        await store.read(lambda tx: tx.get_job(job.id))
    store = await open_store(store_url)
    assert await store.read(lambda tx: tx.get_job(job.id)) is not None
    await store.close()


async def test_guild_settings_read_from_memory_are_never_stale(store: Store) -> None:
    assert await store.read(lambda tx: tx.guild_config(7)) == GuildConfig(7)
    await store.write(lambda tx: tx.update_guild_config(7, daily_budget_seconds=60))
    assert (await store.read(lambda tx: tx.guild_config(7))).daily_budget_seconds == 60
    await store.write(lambda tx: tx.add_block(7, BlockRule("fog", False)))
    assert (await store.read(lambda tx: tx.guild_config(7))).blocklist == [BlockRule("fog", False)]
    await store.write(lambda tx: tx.upsert_tier(7, TIER))
    await store.write(lambda tx: tx.set_role_tier(7, 70, TIER.name))
    assert await store.read(lambda tx: (tx.tiers(7), tx.role_tiers(7))) == ({TIER.name: TIER}, {70: TIER.name})
    assert await store.read(lambda tx: tx.user_tier(7, 700)) is None
    await store.write(lambda tx: tx.set_user_tier(7, 700, TIER.name))
    assert await store.read(lambda tx: tx.user_tier(7, 700)) == TIER.name

    def change_then_fail(tx: Tx) -> None:
        tx.update_guild_config(7, daily_budget_seconds=5)
        assert tx.guild_config(7).daily_budget_seconds == 5  # its own change, cached for a moment
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await store.write(change_then_fail)
    assert (await store.read(lambda tx: tx.guild_config(7))).daily_budget_seconds == 60  # the rollback wins
    tiers = await store.read(lambda tx: tx.tiers(7))
    tiers.clear()  # a caller's copy; the cache keeps its own
    await store.write(lambda tx: tx.delete_tier(7, TIER.name))
    assert await store.read(lambda tx: (tx.tiers(7), tx.role_tiers(7), tx.user_tier(7, 700))) == ({}, {}, None)
    await store.write(lambda tx: tx.set_user_tier(7, 700, "silver"))
    await store.write(lambda tx: tx.set_user_tier(7, 700, None))
    assert await store.read(lambda tx: tx.user_tier(7, 700)) is None


async def test_a_move_applies_to_the_callers_copy_and_brings_back_what_others_wrote(store: Store) -> None:
    job = a_job()
    await store.write(lambda tx: tx.insert_job(job))
    await store.write(lambda tx: tx.update_job(job.id, 1.0, status_channel_id=5, status_message_id=6))
    submitting = await store.write(lambda tx: tx.move_job(job, JobState.SUBMITTING, 2.0))
    running = await store.write(
        lambda tx: tx.move_job(submitting, JobState.RUNNING, 3.0, backend_job_id="r-1", started_at=3.0)
    )
    failed = await store.write(
        lambda tx: tx.move_job(running, JobState.FAILED, 4.0, failure="timed_out", failure_detail="slow")
    )
    stored = await store.read(lambda tx: tx.get_job(job.id))
    assert stored is not None
    assert (failed.status_channel_id, failed.status_message_id) == (5, 6)
    assert failed == stored  # what the caller holds is exactly what a fresh read gives


async def test_waiting_jobs_read_back_a_page_at_a_time_and_start_read_back_whole(store: Store) -> None:
    jobs = [a_job(f"WAITING{n}") for n in range(5)]
    for job in jobs:
        await store.write(lambda tx, job=job: tx.insert_job(job))
    await store.write(lambda tx: tx.move_job(jobs[1], JobState.SUBMITTING, 1.0))  # no longer waiting
    first = await store.read(lambda tx: tx.waiting_after(0, 2))
    rest = await store.read(lambda tx: tx.waiting_after(first[-1].seq, 10))
    assert [waiting.id for waiting in (*first, *rest)] == [jobs[n].id for n in (0, 2, 3, 4)]
    job = jobs[0]
    assert first[0] == WaitingJob(
        first[0].seq, job.id, job.guild_id, job.user_id, job.lane, job.sched_tag, job.model, job.backend,
        job.max_running,
    )  # fmt: skip
    started = await store.write(lambda tx: tx.start_job(job.id, 2.0))
    assert started is not None and started.state is JobState.SUBMITTING
    assert started == await store.read(lambda tx: tx.get_job(job.id))
    assert (started.request, started.origin, started.created_at) == (job.request, job.origin, job.created_at)
    assert await store.write(lambda tx: tx.start_job(job.id, 3.0)) is None  # it no longer waits


async def test_callers_are_not_left_waiting_when_the_batches_are_torn_down(store: Store) -> None:
    assert isinstance(store, GroupCommitStore)
    job = a_job()
    in_flight = asyncio.ensure_future(store.write(lambda tx: tx.insert_job(job)))
    await asyncio.sleep(0)  # its batch has left for the database thread
    waiting = asyncio.ensure_future(store.read(lambda tx: tx.get_job(job.id)))
    await asyncio.sleep(0)
    flusher = store.database._flusher  # the task a loop shutdown would cancel
    assert flusher is not None
    flusher.cancel()
    for caller in (in_flight, waiting):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, 5)  # a timeout here means a caller was forgotten


async def test_sqlite_starts_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "footage.db"
    await (await open_store(sqlite_url(path))).close()
    async with aiosqlite.connect(path) as db:
        assert (await (await db.execute("PRAGMA journal_mode")).fetchone()) == ("wal",)


async def test_sqlite_a_members_usage_and_waiting_count_never_walk_their_finished_history(tmp_path: Path) -> None:
    store = await open_store(sqlite_url(tmp_path / "plans.db"))

    def plans(tx: Tx) -> list[str]:
        assert isinstance(tx, SqliteTx)
        statements: list[str] = []
        connection = tx._db  # the statements are the store's own; only their plans are looked at
        connection.set_trace_callback(statements.append)
        try:
            tx.user_usage(1, 2, (0.0, 1.0), (0.0, 2.0))
            tx.count_queued_jobs(1, 2)
        finally:
            connection.set_trace_callback(None)
        return [
            " ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}"))
            for statement in statements
        ]

    try:
        usage, queued = await store.read(plans)
    finally:
        await store.close()
    assert "COVERING INDEX ledger_by_user" in usage
    assert "INDEX jobs_queued_by_user" in queued


async def test_postgresql_a_members_reads_use_the_members_indexes_before_any_statistics(postgres_url: str) -> None:
    # A new database works for a minute or more before autovacuum's first ANALYZE; without
    # statistics a member's usage sums walked the guild's ledger index and a member's latest
    # job the guild's job index (docs/operations.md, 2026-12-01). Checked planned with the
    # values and as the generic plan a prepared statement runs after five calls.
    await (await open_store(postgres_url)).close()  # migrated
    found = await asyncio.to_thread(_plans_without_statistics, postgres_url)
    assert found["user_usage"].count("ledger_by_member") == 2, found["user_usage"]
    assert found["latest_share"].count("jobs_by_user") == 2, found["latest_share"]
    assert "Sort" not in found["latest_share"], found["latest_share"]


def _plans_without_statistics(url: str) -> dict[str, str]:
    """The custom and generic plans of a member's reads, on 5,000 jobs of 500 members never analyzed."""
    calls = {"user_usage": (0.0, 100.0, 0.0, 100.0, 1, 7, 0.0, 100.0), "latest_share": (1, 7)}
    found: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        for table in ("jobs", "ledger"):
            connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        connection.execute(
            "INSERT INTO jobs (id, guild_id, channel_id, user_id, upload_limit, prompt, model, seconds, aspect,"
            " state, cost_seconds, backend, created_at, updated_at)"
            " SELECT 'J' || i, 1, 1, i % 500, 1, 'p', 'm', 4, '16:9', 'delivered', 4, 'b', i, i"
            " FROM generate_series(1, 5000) AS i"
        )
        connection.execute(
            "INSERT INTO ledger (job_id, guild_id, user_id, model, entry, seconds, jobs, window_at, at)"
            " SELECT id, guild_id, user_id, 'm', 'charge', 4, 1, 10, 10 FROM jobs"
        )
        connection.execute("SET plan_cache_mode = force_generic_plan")
        for name, params in calls.items():
            statement = STATEMENTS[name]
            custom = connection.execute(f"EXPLAIN {statement}", params).fetchall()
            connection.execute(f"PREPARE generic_{name} AS {_numbered(statement)}")
            values = ", ".join(str(value) for value in params)  # EXECUTE takes no bound parameters
            generic = connection.execute(f"EXPLAIN EXECUTE generic_{name} ({values})").fetchall()
            found[name] = " ".join(row[0] for row in (*custom, *generic))
    return found


def _numbered(sql: str) -> str:
    """psycopg's %s marks as the $1, $2, ... a PREPARE takes."""
    parts = sql.split("%s")
    return "".join(part + (f"${index}" if index < len(parts) else "") for index, part in enumerate(parts, start=1))


async def test_the_virtual_time_at_start_is_the_largest_tag_of_the_normal_lane_jobs_that_left_the_queue(
    store: Store,
) -> None:
    assert await store.read(lambda tx: tx.highest_started_tag()) is None
    started = datetime(2026, 11, 25, 1, tzinfo=UTC)
    waiting = a_job("WAITING1").evolve(sched_tag=30.0)
    await store.write(lambda tx: tx.insert_job(waiting))
    assert await store.read(lambda tx: tx.highest_started_tag()) is None  # nothing has left the queue
    left = [
        a_job("DELIVER1").evolve(state=JobState.DELIVERED, sched_tag=10.0, started_at=started),
        a_job("FAILED01").evolve(state=JobState.FAILED, sched_tag=12.0, started_at=started),
        a_job("RUNNING1").evolve(state=JobState.RUNNING, sched_tag=14.0, started_at=started),
        a_job("CANCELED").evolve(state=JobState.CANCELED, sched_tag=20.0),  # canceled while it waited: it left too
        a_job("RELAXED1").evolve(state=JobState.DELIVERED, lane=1, sched_tag=40.0, started_at=started),
        a_job("WAITING2").evolve(sched_tag=50.0),
    ]
    await store.write(lambda tx: [tx.insert_job(job) for job in left])
    assert await store.read(lambda tx: tx.highest_started_tag()) == 20.0


FINISHED_JOBS, WAITING_JOBS = 5000, 50
# Finished normal-lane jobs with tags 1..5000, then waiting ones above them; one text for both dialects.
_HISTORY = (
    f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {FINISHED_JOBS + WAITING_JOBS})"
    " INSERT INTO jobs (id, guild_id, channel_id, user_id, upload_limit, prompt, model, seconds, aspect,"
    " state, lane, sched_tag, cost_seconds, backend, created_at, updated_at)"
    f" SELECT 'J' || i, 1, 1, i % 500, 1, 'p', 'm', 4, '16:9', CASE WHEN i > {FINISHED_JOBS} THEN 'queued'"
    " ELSE 'delivered' END, 0, i, 4, 'b', i, i FROM n"
)


async def test_the_virtual_time_at_start_is_read_past_the_waiting_jobs_not_the_history(store_url: str) -> None:
    # A runner and a gateway read it as they start: a MAX over every job ever stored made
    # each start cost more as the history grew (docs/operations.md, 2026-12-01).
    await (await open_store(store_url)).close()  # migrated
    if store_kind(store_url) == "sqlite":
        with sqlite3.connect(sqlite_path(store_url)) as connection:
            connection.execute(_HISTORY)
            statement = SQLITE_STATEMENTS["highest_started_tag"]
            assert connection.execute(statement).fetchone() == (FINISHED_JOBS,)
            plan = " ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert plan == "SEARCH jobs USING INDEX jobs_normal_lane_by_tag", plan
        return
    with psycopg.connect(store_url, autocommit=True) as connection:
        connection.execute("ALTER TABLE jobs SET (autovacuum_enabled = false)")  # planned before any statistics
        connection.execute(_HISTORY)
        analyzed = connection.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {STATEMENTS['highest_started_tag']}")
        plan = " ".join(row[0] for row in analyzed.fetchall())
    assert "Index Scan Backward using jobs_normal_lane_by_tag" in plan, plan
    assert f"Rows Removed by Filter: {WAITING_JOBS} " in plan, plan  # it passed the waiting jobs, and only them


async def test_a_read_whose_statement_fails_leaves_the_batchs_writes(store: Store) -> None:
    first, second = a_job("AAAAAAAA"), a_job("BBBBBBBB")

    def broken_read(tx: Tx) -> None:
        assert isinstance(tx, StatementTx)
        tx._all("SELECT missing FROM no_such_table")  # PostgreSQL then refuses the rest of the transaction

    outcomes = await asyncio.gather(
        store.write(lambda tx: tx.insert_job(first)),
        store.read(broken_read),
        store.write(lambda tx: tx.insert_job(second)),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], sqlite3.Error | psycopg.Error)
    assert await store.read(lambda tx: (tx.get_job(first.id) is not None, tx.get_job(second.id) is not None)) == (
        True,
        True,
    )


async def test_a_fenced_move_lands_only_while_the_owner_holds_the_lease(store: Store) -> None:
    job = a_job()

    def claim(tx: Tx) -> Job:
        tx.insert_job(job)
        tx.grant_lease(job.id, "worker-a", 100.0)
        return tx.move_job(job, JobState.SUBMITTING, 1.0)

    submitting = await store.write(claim)

    def checkpoint(owner: str) -> Callable[[Tx], Job]:
        def work(tx: Tx) -> Job:
            tx.fence(job.id, owner, 200.0, release=False)
            moved = tx.move_job(submitting, JobState.RUNNING, 2.0, backend_job_id="remote-1")
            tx.add_ledger(job, [LedgerEntry("reserve", 5, 1)], 2.0)
            return moved

        return work

    with pytest.raises(LeaseLost):
        await store.write(checkpoint("worker-b"))
    stored = await store.read(lambda tx: tx.get_job(job.id))
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert await store.read(lambda tx: tx.job_ledgers()) == [JobLedger(job.id, "submitting", 2, 0, 0, 0, 0, 0)]

    running = await store.write(checkpoint("worker-a"))
    assert running.state is JobState.RUNNING and running.backend_job_id == "remote-1"
    expired = await store.read(lambda tx: [found.id for found, _ in tx.expired_leases(150.0, 10)])
    assert expired == []  # extended to 200 by the move
    assert await store.read(lambda tx: [found.id for found, _ in tx.expired_leases(250.0, 10)]) == [job.id]


async def test_a_finishing_fence_gives_the_lease_up_moved_or_not(store: Store) -> None:
    jobs = [a_job("AAAAAAAA"), a_job("BBBBBBBB")]

    def claim(tx: Tx) -> list[Job]:
        moved = []
        for job in jobs:
            tx.insert_job(job)
            tx.grant_lease(job.id, "worker-a", 100.0)
            moved.append(tx.move_job(job, JobState.SUBMITTING, 1.0))
        return moved

    first, second = await store.write(claim)

    def finish(tx: Tx) -> None:
        tx.fence(first.id, "worker-a", 200.0, release=True)
        tx.move_job(first, JobState.FAILED, 2.0, failure="internal_error")
        tx.fence(second.id, "worker-a", 200.0, release=True)  # no move carries this one

    await store.write(finish)
    held = await store.write(lambda tx: tx.renew_leases("worker-a", 300.0))
    assert held == {}
    with pytest.raises(LeaseLost):  # given up: a second finish is refused
        await store.write(lambda tx: tx.fence(second.id, "worker-a", 200.0, release=True))


async def test_writes_of_one_unit_of_work_are_seen_by_its_later_reads(store: Store) -> None:
    job = a_job()

    def enqueue(tx: Tx) -> tuple[Job | None, list[JobLedger]]:
        tx.insert_job(job)
        tx.add_ledger(job, [LedgerEntry("reserve", 2, 1)], 1.0)
        tx.save_model_run_time("demo", 3.0, 1)
        return tx.get_job(job.id), tx.job_ledgers()

    stored, ledgers = await store.write(enqueue)
    assert stored is not None and stored.id == job.id
    assert ledgers == [JobLedger(job.id, "queued", 2, 2, 0, 0, 0, 0)]
    assert await store.read(lambda tx: tx.model_run_times()) == {"demo": 3.0}


async def test_a_claim_moves_the_jobs_still_waiting_and_leases_them(store: Store) -> None:
    jobs = [a_job("AAAAAAAA"), a_job("BBBBBBBB"), a_job("CCCCCCCC")]

    def enqueue(tx: Tx) -> None:
        for job in jobs:
            tx.insert_job(job)
        tx.move_job(jobs[1], JobState.CANCELED, 1.0)  # canceled after the claim read it

    await store.write(enqueue)

    def claim(tx: Tx) -> list[Job]:
        started = tx.move_jobs(jobs, JobState.SUBMITTING, 2.0)
        tx.grant_leases([job.id for job in started], "worker-a", 100.0)
        return started

    started = await store.write(claim)
    assert [(job.id, job.state) for job in started] == [
        ("AAAAAAAA", JobState.SUBMITTING),
        ("CCCCCCCC", JobState.SUBMITTING),
    ]
    held = await store.write(lambda tx: tx.renew_leases("worker-a", 200.0))
    assert held == {"AAAAAAAA": JobState.SUBMITTING, "CCCCCCCC": JobState.SUBMITTING}
    with pytest.raises(InvalidTransition):
        await store.write(lambda tx: tx.move_jobs(started, JobState.QUEUED, 3.0))
