"""What the cogs and buttons reach through the bot: the core and a few Discord-side helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import discord

from bot.clock import Clock
from bot.discord_glue.names import MemberNames
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.core import Core
    from bot.discord_glue.status import StatusMessage
    from bot.discord_glue.updater import StatusUpdater


@dataclass(slots=True)
class Services:
    settings: Settings
    core: Core
    clock: Clock
    updater: StatusUpdater[StatusMessage]
    names: MemberNames = field(default_factory=MemberNames)


class HasServices(Protocol):
    footage: Services | None


def services_of(client: discord.Client) -> Services:
    """The bot's services; only valid once `setup_hook` has opened the core."""
    services: Services | None = getattr(client, "footage", None)
    if services is None:
        raise RuntimeError("the bot is not set up yet (setup_hook has not opened the core)")
    return services
