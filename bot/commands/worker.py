"""`footage-bot worker`: claim jobs from PostgreSQL and drive them; no Discord gateway connection.

A worker submits to the backend, polls, downloads and re-encodes, edits status
messages and posts clips through Discord's REST API with the bot token. Any number
of workers on any number of hosts share one database (docs/scaling.md); each
holds its jobs under leases, so a worker that dies loses nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Mapping

import discord

from bot.backends.base import Backend
from bot.clock import Clock, utc_now
from bot.commands.processes import refusal_without_postgresql
from bot.core import Core
from bot.discord_glue.budget import DiscordBudget
from bot.discord_glue.rest import RestDiscord
from bot.discord_glue.updater import EDIT_INTERVAL
from bot.health_server import serving
from bot.jobs.leases import CONTROL_CHANNEL, WAKE_CHANNEL, LeasedRunner, WorkerIdentity, worker_name
from bot.lifecycle import run_until_stopped
from bot.models import ModelCatalog
from bot.settings import Settings

log = logging.getLogger(__name__)

# Ready when the database answers (a worker has no gateway session).
WORKER_PARTS = ("database",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    return None


def main(args: argparse.Namespace, settings: Settings) -> int:
    if (refusal := refusal_without_postgresql(settings, "worker")) is not None:
        print(refusal, file=sys.stderr)
        return 2
    if settings.discord_token is None:
        print("footage-bot worker: DISCORD_TOKEN is needed (a worker posts clips through Discord).", file=sys.stderr)
        return 2
    try:
        asyncio.run(_until_signal(settings))
    except discord.LoginFailure:
        print(
            "footage-bot: Discord refused the token (DISCORD_TOKEN); reset it in the developer portal.", file=sys.stderr
        )
        return 2
    return 0


async def _until_signal(settings: Settings) -> None:
    """The worker under the graceful stop every command shares (SIGTERM/SIGINT, bounded in time)."""
    stop = asyncio.Event()
    async with serving(settings, parts=WORKER_PARTS):
        working = asyncio.ensure_future(run_worker(settings, stop))

        async def give_up_leases() -> None:
            stop.set()
            await asyncio.wait((working,))

        await run_until_stopped(working, stop=give_up_leases)


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock: Clock = utc_now,
    backends: Mapping[str, Backend] | None = None,
    catalog: ModelCatalog | None = None,
    edit_interval: float = EDIT_INTERVAL,
) -> None:
    """One worker until `stop` is set: its jobs' leases are given up on the way out, for others to take."""
    assert settings.discord_token is not None
    budget = DiscordBudget(settings.discord_requests_per_second)
    identity = WorkerIdentity(
        worker_name(), settings.lease_seconds, settings.worker_max_jobs, on_workers=budget.set_processes
    )
    core = await Core.open(settings, clock=clock, backends=backends, catalog=catalog, worker=identity)
    try:
        rest = await RestDiscord.open(
            core, settings.discord_token.get_secret_value(), budget, clock, edit_interval=edit_interval
        )
        try:
            runner = core.runner
            assert isinstance(runner, LeasedRunner)
            listening = asyncio.create_task(core.store.listen((WAKE_CHANNEL, CONTROL_CHANNEL), _notices(runner)))
            await core.start()
            log.info("worker %s started (up to %d jobs)", identity.owner, identity.max_jobs)
            await stop.wait()
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        finally:
            await rest.close()
    finally:
        await core.close()


def _notices(runner: LeasedRunner) -> Callable[[str, str], None]:
    def on_notice(channel: str, payload: str) -> None:
        if channel == CONTROL_CHANNEL:
            runner.on_control(payload)
        else:
            runner.wake()

    return on_notice
