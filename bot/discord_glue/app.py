"""`create_bot`: the fully wired bot, the same one `run`, tests and benchmarks use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from discord.ext import commands

from bot.backends.base import Backend, ExternalWait, await_directly
from bot.clock import Clock, utc_now
from bot.discord_glue.client import BotOptions, FootageBot, ShardedFootageBot
from bot.discord_glue.services import Background, start_here
from bot.discord_glue.updater import EDIT_INTERVAL
from bot.models import ModelCatalog
from bot.settings import Settings


def create_bot(
    settings: Settings,
    *,
    database_path: Path | None = None,
    clock: Clock = utc_now,
    wait: ExternalWait = await_directly,
    backends: Mapping[str, Backend] | None = None,
    catalog: ModelCatalog | None = None,
    force_sync: bool = False,
    edit_interval: float = EDIT_INTERVAL,
    gateway: bool = False,
    background: Background = start_here,
) -> commands.Bot:
    """Nothing touches the network or the database until the bot logs in (`setup_hook`)."""
    options = BotOptions(
        database_path=database_path,
        clock=clock,
        wait=wait,
        backends=backends,
        catalog=catalog,
        force_sync=force_sync,
        edit_interval=edit_interval,
        gateway=gateway,
        background=background,
    )
    if settings.shard_count is not None:
        return ShardedFootageBot(settings, options)
    return FootageBot(settings, options)
