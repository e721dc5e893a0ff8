"""`footage-bot bench queue`: job lifecycles per second through the real core, and what they cost.

Opens the real `Core` on a fresh database (a new SQLite file, or with
`--database-url` a schema of its own on that PostgreSQL database, dropped
afterwards; DATABASE_URL is never used) with an instant in-process backend and
deliverer, so what is measured is the bot's own work: enqueue (validation,
quota, reserve, insert), the fair queue's choice, every state checkpoint, the
settle at delivery. `--queued N` first fills the queue with N jobs that wait in
the relax lane of another server (users past their quota), so they stay queued
behind the measured work and show how the cost grows with the queue's length.
`--spending-budget` gives the measured server money budgets it never reaches, so
every enqueue also sums the server's spending under the server-wide lock.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import SecretStr

from bot.backends.base import BackendCapabilities, BackendJob, FetchedClip, GenerationRequest, PollResult
from bot.benchmarks.sql_alone import SqlAlone
from bot.core import Core
from bot.domain.jobs import Job, JobRequest, Origin
from bot.domain.money import MAX_AMOUNT_MICROS
from bot.domain.tiers import MAX_QUEUED, MAX_QUOTA_SECONDS, Tier
from bot.jobs.delivery import Clip, Delivered, DeliveryOutcome
from bot.media.demo_render import render_demo
from bot.media.probe import VideoInfo, probe_video
from bot.models import ModelCatalog, ModelSpec
from bot.quotas import ledger
from bot.quotas.service import Member
from bot.settings import Settings
from bot.store.opening import open_store, scratch_database
from bot.store.urls import sqlite_url, store_kind

MODEL = "bench"
MEASURED_GUILD = 1
BACKLOG_GUILD = 2
BACKLOG_ROLE = 99
UPLOAD_LIMIT = 10 << 20
PARALLEL = 64  # jobs the instant backend runs at once: enough that slots never limit throughput
POSITION_SAMPLES = 2000
PRICE_PER_SECOND = 0.05
IN_FLIGHT = 32  # a busy server: commands from many members arriving while earlier ones are answered


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=20_000, help="job lifecycles to run (default 20000)")
    parser.add_argument("--users", type=int, default=1_000, help="distinct requesters (default 1000)")
    parser.add_argument("--queued", type=int, default=0, help="jobs left waiting in the queue first (default 0)")
    parser.add_argument(
        "--in-flight", type=int, default=IN_FLIGHT, help=f"commands being answered at once (default {IN_FLIGHT})"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes that drive the jobs while this one enqueues (PostgreSQL only; default 0: "
        "this process does everything)",
    )
    parser.add_argument(
        "--spending-budget",
        action="store_true",
        help="give the measured server daily and monthly money budgets it never reaches (every enqueue then "
        "sums the server's spending)",
    )
    parser.add_argument(
        "--sql-alone",
        action="store_true",
        help="also replay the run's own SQLite statements alone on one thread and print the ratio (SQLite only)",
    )
    parser.add_argument(
        "--database-url",
        help="run on this database, in a schema of its own dropped afterwards (postgresql://...); "
        "default: a new SQLite file in a temporary folder",
    )


class InstantBackend:
    """Accepts, finishes and hands over a clip at once: the backend costs nothing. Counts submits per job."""

    name = "instant"
    capabilities = BackendCapabilities()

    def __init__(self, clip: Path, info: VideoInfo) -> None:
        self._clip = clip
        self._info = info
        self.submits: Counter[str] = Counter()

    async def submit(self, request: GenerationRequest) -> BackendJob:
        self.submits[request.job_id] += 1
        return BackendJob(f"instant-{request.job_id}")

    async def poll(self, job: BackendJob) -> PollResult:
        return PollResult("succeeded", progress=1.0)

    async def cancel(self, job: BackendJob) -> None:
        return None

    async def fetch(self, job: BackendJob, result: PollResult, dest: Path, max_bytes: int) -> FetchedClip:
        dest.hardlink_to(self._clip)
        return FetchedClip(dest, self._info, None)

    async def aclose(self) -> None:
        return None


class CountingDeliverer:
    """Posts nothing; counts posts per job (one for a job with no message yet) and says when
    every measured job is delivered."""

    def __init__(self, expected: int) -> None:
        self.delivered = 0
        self._expected = expected
        self.all_delivered = asyncio.Event()
        self.posts: Counter[str] = Counter()

    async def deliver(self, job: Job, clip: Clip) -> DeliveryOutcome:
        clip.path.unlink(missing_ok=True)
        if job.result_message_id is not None:  # a takeover caught it after the post: posted already
            return Delivered(job.result_message_id)
        self.posts[job.id] += 1
        if job.guild_id == MEASURED_GUILD:
            self.delivered += 1
            if self.delivered == self._expected:
                self.all_delivered.set()
        return Delivered(message_id=self.delivered)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="footage-bench-") as folder:
        return await _run(args, settings, Path(folder))


async def _run(args: argparse.Namespace, settings: Settings, folder: Path) -> dict[str, object]:
    if args.workers and (args.database_url is None or store_kind(args.database_url) != "postgresql"):
        raise SystemExit(
            "footage-bot bench queue: --workers needs --database-url postgresql://... "
            "(worker processes share one PostgreSQL database)"
        )
    if args.sql_alone and args.database_url is not None:
        raise SystemExit(
            "footage-bot bench queue: --sql-alone replays the run's SQLite statements; leave out --database-url"
        )
    clip = folder / "clip.mp4"
    render_demo(clip, prompt="bench", seconds=1, aspect="1:1", seed=1)
    async with scratch_database(args.database_url or sqlite_url(folder / "bench.db")) as url:
        return await _run_on(args, settings, folder, clip, url)


def catalog() -> ModelCatalog:
    return ModelCatalog(
        [
            ModelSpec(
                name=MODEL,
                backend="instant",
                durations=(4,),
                aspects=("16:9",),
                max_concurrency=PARALLEL,
                cost_per_second=PRICE_PER_SECOND,
            )
        ]
    )


def bench_settings(settings: Settings, url: SecretStr, media_dir: Path) -> Settings:
    """Quotas and limits so high that only the bot's own work sets the pace."""
    return settings.model_copy(
        update={
            "database_url": url,
            "media_dir": media_dir,
            "default_daily_seconds": MAX_QUOTA_SECONDS,
            "default_monthly_seconds": MAX_QUOTA_SECONDS,
            "default_max_queued": MAX_QUEUED,
            "default_max_running": PARALLEL,
            "guild_max_running": PARALLEL,
        }
    )


async def _run_on(
    args: argparse.Namespace, settings: Settings, folder: Path, clip: Path, url: str
) -> dict[str, object]:
    configured = bench_settings(settings, SecretStr(url), folder / "clips")
    if args.spending_budget:
        await _set_spending_budgets(url)
    if args.workers:
        from bot.benchmarks import queue_workers

        return await queue_workers.measure(args, configured, folder, clip)
    backend = InstantBackend(clip, probe_video(clip))
    deliverer = CountingDeliverer(args.jobs)
    core = await Core.open(configured, backends={"instant": backend}, catalog=catalog())
    core.attach_deliverer(deliverer)
    try:
        sql_alone = SqlAlone.of(core, folder) if args.sql_alone else None
        await _fill_backlog(core, args.queued, args.users, args.in_flight)
        if sql_alone is not None:
            await sql_alone.begin()
        await core.start()
        figures = await _measure(core, backend, deliverer, args)
        if sql_alone is not None:
            figures |= await sql_alone.compare(args.jobs)
        await check_ledger(core)
    finally:
        await core.close()
    shutil.rmtree(folder / "clips", ignore_errors=True)
    return figures


async def _set_spending_budgets(url: str) -> None:
    store = await open_store(url)
    try:
        await store.write(
            lambda tx: tx.update_guild_config(
                MEASURED_GUILD, daily_budget_micros=MAX_AMOUNT_MICROS, monthly_budget_micros=MAX_AMOUNT_MICROS
            )
        )
    finally:
        await store.close()


async def run_commands(count: int, in_flight: int, command: Callable[[int], Awaitable[None]]) -> None:
    """Run `command(0)` ... `command(count - 1)` the way Discord delivers commands: each
    answered in a task of its own, `in_flight` at once, the rest waiting their turn."""
    indices = iter(range(count))

    async def answerrun_commands() -> None:
        for index in indices:
            await command(index)

    await asyncio.gather(*(answerrun_commands() for _ in range(in_flight)))


async def _fill_backlog(core: Core, count: int, users: int, in_flight: int) -> None:
    """Jobs past their quota, waiting at the lowest priority in another server."""
    if count <= 0:
        return
    backlog = Tier("backlog", 0, 0, max_running=1, max_queued=MAX_QUEUED, max_clip_seconds=10, relax_allowed=True)
    await core.guilds.set_tier(BACKLOG_GUILD, backlog)
    await core.guilds.set_role_tier(BACKLOG_GUILD, BACKLOG_ROLE, backlog.name)
    started = time.perf_counter()

    async def command(index: int) -> None:
        user = 1_000_000 + index % users
        member = Member(user, role_ids=frozenset({BACKLOG_ROLE}))
        await core.jobs.enqueue(
            Origin(BACKLOG_GUILD, 1, user, UPLOAD_LIMIT), JobRequest("backlog", MODEL, 4, "16:9"), member
        )

    await run_commands(count, in_flight, command)
    print(f"filled the queue with {count} waiting jobs in {time.perf_counter() - started:.1f} s")


async def _measure(
    core: Core, backend: InstantBackend, deliverer: CountingDeliverer, args: argparse.Namespace
) -> dict[str, object]:
    rng = random.Random(1)
    enqueue_ms: list[float] = []
    position_ms: list[float] = []
    waiting: list[Job] = []
    sample_every = max(args.jobs // POSITION_SAMPLES, 1)
    rss_before = _peak_rss_mib()
    dispatch_before = core.runner.stats
    batches_before = core.store.batches
    started = time.perf_counter()

    async def command(index: int) -> None:
        user = index % args.users + 1
        before = time.perf_counter()
        enqueued = await core.jobs.enqueue(
            Origin(MEASURED_GUILD, 1, user, UPLOAD_LIMIT), JobRequest(f"clip {index}", MODEL, 4, "16:9"), Member(user)
        )
        enqueue_ms.append((time.perf_counter() - before) * 1000)
        waiting.append(enqueued.job)
        if index % sample_every == 0:
            job = rng.choice(waiting)
            before = time.perf_counter()
            core.jobs.place(job)
            position_ms.append((time.perf_counter() - before) * 1000)

    await run_commands(args.jobs, args.in_flight, command)
    await deliverer.all_delivered.wait()
    elapsed = time.perf_counter() - started
    # Read before the ledger check that follows the run, which holds a row for every job ever
    # stored at once: the peak is the bot's, not the check's.
    peak_rss = max(_peak_rss_mib(), rss_before)
    dispatch = core.runner.stats.since(dispatch_before)
    batches = core.store.batches - batches_before
    jobs_per_s = args.jobs / elapsed
    print(f"{args.jobs} jobs, {args.users} users, {args.queued} waiting: {elapsed:.2f} s, {jobs_per_s:.0f} jobs/s")
    print(f"enqueue p50 {statistics.median(enqueue_ms):.3f} ms, p99 {percentile(enqueue_ms, 0.99):.3f} ms")
    print(f"queue position + ETA p99 {percentile(position_ms, 0.99):.4f} ms ({len(position_ms)} samples)")
    print(f"scheduling: {dispatch.decision_us:.1f} us of queue walking per dispatched job ({dispatch.dispatched} jobs)")
    print(
        f"database ({core.store.kind}): {batches} batches, one commit each "
        f"({args.jobs / max(batches, 1):.1f} lifecycles per commit)"
    )
    return {
        "store": core.store.kind,
        "workers": 0,
        "lost_jobs": args.jobs - deliverer.delivered,
        "double_submits": sum(count - 1 for count in backend.submits.values() if count > 1),
        "double_posts": sum(count - 1 for count in deliverer.posts.values() if count > 1),
        "jobs": args.jobs,
        "users": args.users,
        "queued": args.queued,
        "spending_budget": args.spending_budget,
        "jobs_per_s": round(jobs_per_s, 1),
        "enqueue_p50_ms": round(statistics.median(enqueue_ms), 3),
        "enqueue_p99_ms": round(percentile(enqueue_ms, 0.99), 3),
        "position_p99_ms": round(percentile(position_ms, 0.99), 4),
        "decision_us": round(dispatch.decision_us, 2),
        "db_batches": batches,
        "peak_rss_mib": round(peak_rss, 1),
    }


async def check_ledger(core: Core) -> None:
    mismatches = await core.store.read(ledger.mismatches)
    if mismatches:
        raise RuntimeError(f"the quota ledger disagrees with the jobs after the run: {mismatches[:3]}")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
