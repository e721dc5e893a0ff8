"""`footage-bot bench queue`: how fast the core queues jobs and answers "where am I?" under load."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.core import Core
from bot.jobs.domain import JobRequest, Origin
from bot.models import ModelCatalog, ModelSpec
from bot.quotas.service import Member
from bot.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs to queue (default 10000)")
    parser.add_argument("--users", type=int, default=500, help="distinct requesters (default 500)")


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    catalog = ModelCatalog([ModelSpec(name="bench", backend="demo", durations=(4,), aspects=("16:9",))])
    with tempfile.TemporaryDirectory() as folder:
        bench_settings = settings.model_copy(
            update={
                "database_path": Path(folder) / "bench.db",
                "media_dir": Path(folder) / "clips",
                "default_daily_seconds": 10**9,
                "default_monthly_seconds": 10**9,
                "default_max_queued": 10**9,
            }
        )
        core = await Core.open(bench_settings, backends={}, catalog=catalog)
        try:
            timings: list[float] = []
            started = time.perf_counter()
            for index in range(args.jobs):
                user = index % args.users + 1
                before = time.perf_counter()
                await core.jobs.enqueue(
                    Origin(1, 1, user, 10 << 20), JobRequest("bench", "bench", 4, "16:9"), Member(user)
                )
                timings.append((time.perf_counter() - before) * 1000)
            elapsed = time.perf_counter() - started
            last = list(core.queue.in_order())[-1]
            before = time.perf_counter()
            place = core.jobs.place(last)
            place_ms = (time.perf_counter() - before) * 1000
        finally:
            await core.close()
    print(f"queued {args.jobs} jobs for {args.users} users in {elapsed:.2f} s")
    print(f"enqueue p50 {statistics.median(timings):.2f} ms, p99 {_percentile(timings, 0.99):.2f} ms")
    print(f"position + ETA of the last job ({place.position if place else '?'}): {place_ms:.2f} ms")
    return {
        "jobs": args.jobs,
        "users": args.users,
        "enqueue_per_s": round(args.jobs / elapsed, 1),
        "enqueue_p50_ms": round(statistics.median(timings), 3),
        "enqueue_p99_ms": round(_percentile(timings, 0.99), 3),
        "place_last_ms": round(place_ms, 3),
    }
