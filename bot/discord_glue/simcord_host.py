"""Hosting the real bot inside SimCord (the preview, the ack benchmark, the tests).

The core declares its waits on the outside world (renders, provider HTTP) through an
`ExternalWait` hook; inside SimCord those waits must be declared so the simulator
does not count them as stuck work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import simcord
from discord.ext import commands

log = logging.getLogger(__name__)


class SimcordWait:
    """The core's ExternalWait hook: declares its waits to SimCord while the env runs."""

    def __init__(self) -> None:
        self.env: simcord.Env | None = None

    async def __call__(self, awaitable: Awaitable[Any], reason: str) -> Any:
        if self.env is None:  # before the env starts and after it shut down (core close)
            return await awaitable
        return await self.env.external_wait(awaitable, reason=reason)


async def detach_and_close(env: simcord.Env, wait: SimcordWait, *bots: commands.Bot) -> None:
    """Detach from SimCord first (cancels the bot's tasks), then close each bot and its core.

    SimCord's shutdown does not close the bot: without the close, the core's database
    connection stays open and its worker thread keeps the process from exiting.
    """
    try:
        await env.shutdown()
    finally:
        wait.env = None  # closing is no longer bot-owned work SimCord could track
        for bot in bots:
            await bot.close()
