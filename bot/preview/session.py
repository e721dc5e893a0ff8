"""Run the real bot inside SimCord with the browser preview open, and shut it all down cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import simcord

from bot.backends.registry import check_backend_settings, load_catalog
from bot.discord_glue.app import create_bot
from bot.discord_glue.client import FootageBot
from bot.discord_glue.errors import is_refusal
from bot.discord_glue.simcord_host import SimcordWait, detach_and_close
from bot.discord_glue.updater import EDIT_INTERVAL
from bot.health_server import ReadyCheck, ready_when
from bot.models import CatalogError
from bot.preview.live import (
    LiveRefresher,
    WallFollowingClock,
    align_clock_to_wall,
    check_webm_in_process,
    follow_the_wall,
    name_bot,
    reuse_markdown_parsers,
)
from bot.preview.world import PreviewWorld, build_world, seed_database
from bot.settings import Settings

log = logging.getLogger(__name__)

# How long a click on the page waits for the bot to finish reacting to it. The jobs run
# in the background (see `bot/discord_glue/simcord_host.py`), so a click waits only for
# its own answer; the deadline is for an answer slowed by a busy machine, longer than
# Discord's own 3 s for a first answer, so a late one still counts as sent.
SETTLE_SECONDS = 5.0
BOT_NAME = "Footage Bot"


@dataclass(frozen=True, slots=True)
class PreviewOptions:
    database_path: Path
    latency: float
    port: int = 0
    settle_timeout: float = SETTLE_SECONDS
    edit_interval: float = EDIT_INTERVAL


class _NoStaticTokenLine(logging.Filter):
    """SimCord logs the bot in with a stand-in token: discord.py's "logging in using static
    token" would claim a token the preview does not have."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "logging in using static token"


def say_which_backend(settings: Settings) -> None:
    """The preview always renders with the demo: say so, and how the configured backend stands (used by `run`)."""
    if settings.footage_backend == "demo" and settings.footage_config is None:
        log.info("the preview renders with the demo backend (FOOTAGE_BACKEND=demo)")
        return
    try:
        report = check_backend_settings(settings, load_catalog(settings))
        configured = "; ".join(f"{name}: {'ready' if ok else detail}" for name, ok, detail in report)
    except CatalogError as error:
        configured = str(error)
    log.warning(
        "the preview renders with the demo backend, not the configured one (FOOTAGE_BACKEND=%s), "
        "which `footage-bot run` uses: %s",
        settings.footage_backend,
        configured,
    )


def preview_settings(settings: Settings, latency: float) -> Settings:
    """The demo backend whatever `.env` says, and no dev guild (the preview has its own guild)."""
    return settings.model_copy(
        update={"footage_backend": "demo", "demo_latency_seconds": latency, "demo_format": "webm", "dev_guild_id": None}
    )


@dataclass(frozen=True, slots=True)
class PreviewSession:
    url: str
    env: simcord.Env
    preview: simcord.Preview
    bot: FootageBot
    world: PreviewWorld
    refresher: LiveRefresher


def _bot_in_preview(bot: FootageBot) -> ReadyCheck:
    async def ready() -> bool:
        return bot.is_ready() and not bot.is_closed()

    return ready


@asynccontextmanager
async def open_preview(settings: Settings, options: PreviewOptions) -> AsyncIterator[PreviewSession]:
    say_which_backend(settings)
    settings = preview_settings(settings, options.latency)
    no_token_line = _NoStaticTokenLine()
    discord_client_log = logging.getLogger("discord.client")
    discord_client_log.addFilter(no_token_line)
    wait = SimcordWait()
    clock = WallFollowingClock()
    # force_sync: the database remembers the last sync, but SimCord's world is new each run.
    bot = create_bot(
        settings,
        database_path=options.database_path,
        wait=wait,
        clock=clock,
        force_sync=True,
        edit_interval=options.edit_interval,
        background=wait.start_in_background,
    )
    assert isinstance(bot, FootageBot)
    env = simcord.Env(bot, settle_timeout=options.settle_timeout)
    world = build_world(env)
    align_clock_to_wall(env)
    clock.env = env
    name_bot(env, BOT_NAME)
    wait.env = env
    await env.start()
    following = asyncio.create_task(follow_the_wall(env), name="preview-clock")
    try:
        services = bot.footage
        assert services is not None, "setup_hook opens the core"
        await seed_database(services.core, world)
        async with env.preview(world.channel, viewers=world.viewers, layout="channel", port=options.port) as preview:
            check_webm_in_process(preview)
            reuse_markdown_parsers()
            refresher = LiveRefresher(env, preview)
            unsubscribe = services.core.events.subscribe(refresher.on_job_event)
            refresher.start()
            unready = ready_when("preview", _bot_in_preview(bot))
            try:
                yield PreviewSession(preview.url, env, preview, bot, world, refresher)
            finally:
                unready()
                unsubscribe()
                await refresher.stop()
    finally:
        following.cancel()
        try:
            await bot.begin_stop()  # the jobs run untracked by SimCord: its detaching would not stop them
            await detach_and_close(env, wait, bot)
        finally:
            discord_client_log.removeFilter(no_token_line)
            for error in env.errors:
                if not is_refusal(error):  # a refusal is an answer the member already saw
                    log.warning("the bot raised during the preview: %r", error)
