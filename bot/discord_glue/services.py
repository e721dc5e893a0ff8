"""What the cogs and buttons reach through the bot: the core and a few Discord-side helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import discord

from bot.clock import Clock
from bot.discord_glue.names import MemberNames
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.core import Core
    from bot.discord_glue.status import StatusMessage
    from bot.discord_glue.updater import StatusUpdater


T = TypeVar("T")


class Background(Protocol):
    """Calls `start`, so that what it starts (the runner's tasks, status edits) runs as background work.

    Where the bot runs alone this is a plain call. A host that waits for the bot's work
    after each event (the preview inside SimCord) starts it outside what it waits for.
    """

    def __call__(self, start: Callable[[], T]) -> T: ...


def start_here(start: Callable[[], T]) -> T:
    return start()


@dataclass(slots=True)
class Services:
    settings: Settings
    core: Core
    clock: Clock
    updater: StatusUpdater[StatusMessage]
    names: MemberNames = field(default_factory=MemberNames)
    background: Background = start_here


class HasServices(Protocol):
    footage: Services | None


def services_of(client: discord.Client) -> Services:
    """The bot's services; only valid once `setup_hook` has opened the core."""
    services: Services | None = getattr(client, "footage", None)
    if services is None:
        raise RuntimeError("the bot is not set up yet (setup_hook has not opened the core)")
    return services
