"""Discord for a process with no gateway connection: clips and status edits over REST alone.

A worker logs in with the bot token (`Client.login`, which only opens the HTTP client)
and never connects to the gateway: it posts clips with the same deliverer and edits
status messages with the same editor as the all-in-one bot, so nonces, allowed
mentions and the throttle are the same. Every request it sends is paced by the
process's share of the bot's budget (`DiscordBudget`).
"""

from __future__ import annotations

import discord

from bot import metrics
from bot.clock import Clock
from bot.core import Core
from bot.discord_glue.attachments import attachment_download
from bot.discord_glue.budget import DiscordBudget
from bot.discord_glue.delivery import DiscordDeliverer
from bot.discord_glue.status import StatusMessage, status_updater
from bot.discord_glue.updater import EDIT_INTERVAL, StatusUpdater


class RestDiscord:
    """A logged-in REST-only client wired to a core: its deliverer and its status updater."""

    def __init__(self, client: discord.Client, budget: DiscordBudget, updater: StatusUpdater[StatusMessage]) -> None:
        self.client = client
        self.budget = budget
        self.updater = updater

    @classmethod
    async def open(
        cls,
        core: Core,
        token: str,
        budget: DiscordBudget,
        clock: Clock,
        *,
        edit_interval: float = EDIT_INTERVAL,
    ) -> RestDiscord:
        """Log in (raises `discord.LoginFailure` for a refused token) and attach to `core`."""
        # Intents only matter on a gateway connection; the default set keeps discord.py from
        # warning that guild state will be missing (it is never used here).
        client = discord.Client(
            intents=discord.Intents.default(),
            http_trace=budget.trace_config(metrics.discord_http_trace()),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        try:
            await client.login(token)
        except BaseException:
            await client.close()
            raise
        updater = status_updater(client, core, interval=edit_interval)
        core.attach_deliverer(DiscordDeliverer(client))
        core.attach_image_download(attachment_download(client))
        core.events.subscribe(updater.on_event)
        return cls(client, budget, updater)

    async def close(self) -> None:
        try:
            await self.updater.close()
        finally:
            await self.client.close()
