"""Hosting the real bot inside SimCord (the preview, the ack benchmark, the tests).

The core declares its waits on the outside world (renders, provider HTTP) through an
`ExternalWait` hook; inside SimCord those waits must be declared so the simulator
does not count them as stuck work.

In the preview the bot's background work (the runner and its jobs, the status edits)
is also started outside what SimCord tracks (`SimcordWait.start_in_background`). Every
page action waits until the bot's work *settles*: until each task the bot owns is
parked on a declared wait or on a timer due after the settle deadline (1.5 s in the
preview), with no wake-up pending. Running jobs poll every 0.5-2 s and edit their
status messages, so while a job ran settling rarely finished, and the page reported
"Action was not completed" for a command that was in fact sent. Declaring those
pauses as external waits is no cure: SimCord makes a timer scheduled inside a declared
wait virtual, fired only by `Env.advance_time`, and the job stops polling; and with
many jobs the wake-ups after the pauses alone keep settling busy.

This relies on one SimCord 3.2.1 internal: it claims a task or timer as the bot's by
a context variable of the code that creates it (`Env._context_for_scope` copies a
context without it, the way SimCord schedules its own real-time fallbacks). Work
started from such a context is plain asyncio on the wall clock, as in production,
where it may run in another process altogether. `tests/preview/test_preview_session.py`
fails if that changes.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import simcord
from discord.ext import commands

log = logging.getLogger(__name__)

T = TypeVar("T")
# Set in the context background work starts from: its waits are nothing SimCord tracks, so none is declared.
_IN_BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar("footage_in_background", default=False)


class SimcordWait:
    """The bot's hooks into SimCord while the env runs: declared waits, and background work."""

    def __init__(self) -> None:
        self.env: simcord.Env | None = None

    async def __call__(self, awaitable: Awaitable[Any], reason: str) -> Any:
        if self.env is None or _IN_BACKGROUND.get():  # before the env starts, after it shut down, in the background
            return await awaitable
        return await self.env.external_wait(awaitable, reason=reason)

    def start_in_background(self, start: Callable[[], T]) -> T:
        """The bot's `Background` hook in the preview: `start` runs where SimCord does not track it (see above)."""
        if self.env is None:
            return start()
        context: contextvars.Context = self.env._context_for_scope(contextvars.copy_context(), None)
        context.run(_IN_BACKGROUND.set, True)
        return context.run(start)


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
