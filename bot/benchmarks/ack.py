"""`bench ack`: bot time from a /generate interaction arriving to its first answer, under a busy queue.

Builds the real bot with `create_bot` on a fresh database (a new SQLite file, or
with `--database-url` a schema of its own on that PostgreSQL database, dropped
afterwards; DATABASE_URL is never used), runs it inside SimCord (an in-process
Discord), fills the queue with waiting jobs through the core (in a paused server,
so nothing dispatches), then drives /generate. `--process` picks the bot that is
timed: the all-in-one bot `footage-bot run` builds, or the one `footage-bot gateway`
builds (it drives no job: worker processes would). The samples are the ones the
`footage_interaction_ack_seconds` metric observes: from the command tree taking the
interaction to just before the first answer is sent.

The bot's background work (the runner, the gateway's queue refresh, status edits)
runs as the preview runs it, on the wall clock outside what SimCord waits for
(`SimcordWait.start_in_background`): each command then waits for its own answer
alone. Tracked, the gateway's refresh (a timer every 2 s) is always due before a
settle's deadline, so SimCord never finds the bot idle.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import simcord
from pydantic import SecretStr

from bot import metrics
from bot.discord_glue.app import create_bot
from bot.discord_glue.client import FootageBot
from bot.discord_glue.simcord_host import SimcordWait, detach_and_close
from bot.domain.jobs import JobRequest, Origin
from bot.quotas.service import Member
from bot.settings import Settings
from bot.store.opening import scratch_database
from bot.store.urls import sqlite_url, store_kind

JOBS_PER_USER = 5
UPLOAD_LIMIT = 10 * 1024 * 1024
GENEROUS = 10**9
PROCESSES = ("run", "gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--commands", type=int, default=2000, help="how many /generate commands to time")
    parser.add_argument("--queued", type=int, default=10_000, help="jobs waiting in the queue beforehand")
    parser.add_argument(
        "--database-url",
        help="run on this database, in a schema of its own dropped afterwards (postgresql://...); "
        "default: a new SQLite file in a temporary folder",
    )
    parser.add_argument(
        "--process",
        choices=PROCESSES,
        help="the bot to time: `run` (all-in-one) or `gateway` (answers and enqueues, drives nothing; "
        "PostgreSQL only); default: gateway on PostgreSQL, run on SQLite",
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def chosen_process(args: argparse.Namespace) -> str:
    """`--process`, or the default for the store `--database-url` names."""
    postgresql = args.database_url is not None and store_kind(args.database_url) == "postgresql"
    process: str = args.process or ("gateway" if postgresql else "run")
    if process == "gateway" and not postgresql:
        raise SystemExit(
            "footage-bot bench ack: --process gateway needs --database-url postgresql://... "
            "(a gateway shares its database with worker processes)"
        )
    return process


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    process = chosen_process(args)
    with tempfile.TemporaryDirectory(prefix="footage-bench-") as folder:
        async with scratch_database(args.database_url or sqlite_url(Path(folder) / "bench.db")) as url:
            return await _run(args, settings, Path(folder), url, process)


async def _run(args: argparse.Namespace, settings: Settings, folder: Path, url: str, process: str) -> dict[str, object]:
    bench_settings = settings.model_copy(
        update={
            "database_url": SecretStr(url),
            "media_dir": folder / "clips",
            "footage_backend": "demo",
            "dev_guild_id": None,
            "default_daily_seconds": GENEROUS,
            "default_monthly_seconds": GENEROUS,
            "default_max_queued": GENEROUS,
        }
    )
    # Per-request logs would dominate the measurement.
    logging.getLogger("discord").setLevel(logging.WARNING)
    samples: list[float] = []
    wait = SimcordWait()
    bot = create_bot(bench_settings, wait=wait, gateway=process == "gateway", background=wait.start_in_background)
    assert isinstance(bot, FootageBot)
    env = simcord.Env(bot, settle_timeout=60.0)
    wait.env = env
    await env.start()
    services = bot.footage
    assert services is not None
    store = services.core.store.kind
    stop_listening = metrics.listen_to_acks(lambda seconds: samples.append(seconds * 1000))
    try:
        with env.time_context():
            guild = env.create_guild("Bench")
            channel = guild.create_text_channel("footage")
            member = guild.add_member(env.create_user("bench"))
            core = services.core
            await core.guilds.set_paused(guild.id, True)
            model = core.catalog.default
            started = time.perf_counter()
            for index in range(args.queued):
                user = 1_000_000 + index // JOBS_PER_USER
                request = JobRequest(f"waiting job {index}", model.name, model.seconds_default, model.aspect_default)
                await core.jobs.enqueue(Origin(guild.id, channel.id, user, UPLOAD_LIMIT), request, Member(user))
            fill_seconds = time.perf_counter() - started
            print(f"queued {args.queued} jobs in {fill_seconds:.1f} s")
            for index in range(args.commands):
                result = await member.slash(channel, "generate", prompt=f"benchmark clip {index}")
                if result.response is None or result.ephemeral:
                    raise RuntimeError(f"/generate was not answered with a status message (command {index})")
    finally:
        stop_listening()
        await detach_and_close(env, wait, bot)
    print(f"{len(samples)} answers: p50 {statistics.median(samples):.2f} ms, p99 {percentile(samples, 0.99):.2f} ms")
    return {
        "store": store,
        "process": process,
        "ack_p50_ms": round(statistics.median(samples), 3),
        "ack_p99_ms": round(percentile(samples, 0.99), 3),
        "commands": len(samples),
        "queued_jobs": args.queued,
    }
