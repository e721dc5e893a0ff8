"""The one `commands.Bot` subclass: opens the core, wires the Discord side, closes cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import discord
from discord.ext import commands

from bot import metrics
from bot.backends.base import Backend, ExternalWait, await_directly
from bot.clock import Clock, utc_now
from bot.core import Core
from bot.discord_glue.attachments import attachment_download
from bot.discord_glue.buttons import DYNAMIC_ITEMS
from bot.discord_glue.delivery import DiscordDeliverer
from bot.discord_glue.errors import FootageTree
from bot.discord_glue.services import Background, Services, start_here
from bot.discord_glue.status import CancelButton, status_updater
from bot.discord_glue.sync import sync_commands
from bot.discord_glue.updater import EDIT_INTERVAL
from bot.health_server import ready_when
from bot.models import ModelCatalog
from bot.settings import Settings

EXTENSIONS = ("cogs.generate", "cogs.jobs", "cogs.quota", "cogs.admin")


@dataclass(slots=True)
class BotOptions:
    """How to open the core and run the Discord side; tests and tools override these."""

    database_path: Path | None = None
    clock: Clock = utc_now
    wait: ExternalWait = await_directly
    backends: Mapping[str, Backend] | None = None
    catalog: ModelCatalog | None = None
    force_sync: bool = False
    edit_interval: float = EDIT_INTERVAL
    gateway: bool = False  # answer and enqueue only: worker processes drive the jobs
    background: Background = start_here  # how the core's work and status edits are started


class FootageBot(commands.Bot):
    def __init__(self, settings: Settings, options: BotOptions, **client_options: Any) -> None:
        # Slash commands only: no message content intent, no prefix commands for users.
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=FootageTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=metrics.discord_http_trace(),
            **client_options,
        )
        self.settings = settings
        self.options = options
        self.footage: Services | None = None
        self._unready: Callable[[], None] | None = None
        self.stopping = False

    async def setup_hook(self) -> None:
        options = self.options
        core = await Core.open(
            self.settings,
            database_path=options.database_path,
            clock=options.clock,
            wait=options.wait,
            backends=options.backends,
            catalog=options.catalog,
            gateway=options.gateway,
        )
        try:
            updater = status_updater(self, core, interval=options.edit_interval)
            background = options.background
            self.footage = Services(self.settings, core, options.clock, updater, background=background)
            core.attach_deliverer(DiscordDeliverer(self))
            core.attach_image_download(attachment_download(self))
            for extension in EXTENSIONS:
                await self.load_extension(extension)
            self.add_dynamic_items(CancelButton, *DYNAMIC_ITEMS)
            core.events.subscribe(lambda event: background(partial(updater.on_event, event)))
            await sync_commands(self.tree, core, dev_guild_id=self.settings.dev_guild_id, force=options.force_sync)
            await background(lambda: asyncio.ensure_future(core.start()))
            self._unready = ready_when("discord", self._connected)
        except BaseException:
            await core.close()
            self.footage = None
            raise

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Every interaction names its member: remember it for lists that show who asked."""
        if self.footage is not None:
            self.footage.names.remember(interaction)

    async def _connected(self) -> bool:
        return self.is_ready() and not self.is_closed()

    async def begin_stop(self) -> None:
        """SIGTERM/SIGINT: interactions hear "restarting" from now on, and the jobs' work stops.

        The runner stops before Discord closes, so nothing starts while the connection
        is still open; provider jobs keep running and are polled again at the next start.
        """
        self.stopping = True
        services = self.footage
        if services is not None:
            await services.core.stop_work()

    async def stop_gracefully(self) -> None:
        await self.begin_stop()
        await self.close()

    async def close(self) -> None:
        self.stopping = True
        if self._unready is not None:
            self._unready()
            self._unready = None
        services = self.footage
        self.footage = None
        try:
            if services is not None:
                await services.updater.close()
        finally:
            await super().close()
            if services is not None:
                await services.core.close()


class ShardedFootageBot(FootageBot, commands.AutoShardedBot):
    """The same bot on the shards SHARD_IDS of SHARD_COUNT (several gateways split the guilds)."""

    def __init__(self, settings: Settings, options: BotOptions) -> None:
        super().__init__(settings, options, shard_count=settings.shard_count, shard_ids=settings.shard_ids)
