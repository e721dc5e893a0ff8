"""The preview's reliance on SimCord internals (simcord==3.2.1, pinned in pyproject).

The one other is how the bot's background work is started untracked, beside the
wait hook in `bot/discord_glue/simcord_host.py`. Three things SimCord's public API
does not offer for a long-running preview:

1. Live pages. The page polls `/api/state` every 500 ms but the server only rebuilds a
   page's snapshot when something *publishes* it (an action from the page, or the
   public `Preview.refresh()`). `refresh()` first *settles* all bot work and holds
   SimCord's operation guard while doing so, and a click arriving meanwhile fails with
   "operation overlaps" (with a refresh every second while jobs run, many would). So we
   republish each page with `Preview._publish(page, reason="refresh")` — the same
   step `refresh()` ends with, minus the settle — and skip it while a page action is
   in flight (that action publishes when it ends).
2. Message ids that never repeat, and one clock. SimCord's clock starts at 2026-01-01 on every run
   and snowflakes come from it, so a fresh world would hand out the very message ids
   that job rows in the persistent preview database still point at. Moving the
   simulated clock to the wall clock once, before the bot connects, makes new ids
   larger than any earlier run's (`Backend.clock.advance`). The clock keeps following
   the wall clock afterwards, and the bot reads it (`WallFollowingClock`), so message
   times, the page's "now" and the bot's job times are one clock.

3. The bot's name. SimCord names every bot "TestBot"; the preview renames it before the
   bot connects (`Backend.bot_user`), so the page shows the product's name.

If SimCord changes these internals, `supports_republish()` turns false and the
preview falls back to the public `refresh()` while no action is running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import simcord

from bot.jobs.events import JobEvent

log = logging.getLogger(__name__)

# The page rejects a click made on a revision that a newer publish replaced (it asks the
# person to click again), so publish only when the bot changed something, and at most this often.
MIN_INTERVAL = 1.0
# Status edits are coalesced (the bot's edit interval) and the clip is posted after the
# last state change: keep republishing a little after the last job event.
LINGER = 5.0
# How far SimCord's clock may fall behind the wall between two moves (see `follow_the_wall`).
FOLLOW_EVERY = 0.1


def align_clock_to_wall(env: simcord.Env) -> None:
    """Move SimCord's simulated clock forward to now (never back); call before `env.start()`."""
    clock: Any = env.backend.clock
    ahead = (datetime.now(UTC) - clock.now()).total_seconds()
    if ahead > 0:
        clock.advance(ahead)


async def follow_the_wall(env: simcord.Env, every: float = FOLLOW_EVERY) -> None:
    """Keep SimCord's clock on the wall clock while the preview runs, even while the bot reads no time.

    An interaction must be answered within 3 s of SimCord's clock at its creation. With
    the clock moved only when the bot read it, a command sent after the preview sat idle
    was created at a stale time; the bot's first clock read then moved the clock to now,
    past that deadline, and the answer was refused as expired.
    """
    while True:
        align_clock_to_wall(env)
        await asyncio.sleep(every)


class WallFollowingClock:
    """The bot's clock in the preview, and SimCord's: one clock, following the wall.

    Message times and the page's "now" come from SimCord's simulated clock, job times
    from the bot's. If they differ, "asked 5 minutes ago" reads "in 5 minutes". So the
    bot reads SimCord's clock, moving it up to the wall clock first (never back).
    Until the environment exists, it is the wall clock.
    """

    def __init__(self) -> None:
        self.env: simcord.Env | None = None

    def __call__(self) -> datetime:
        if self.env is None:
            return datetime.now(UTC)
        align_clock_to_wall(self.env)
        now: datetime = self.env.backend.clock.now()
        return now


def name_bot(env: simcord.Env, name: str) -> None:
    """Rename SimCord's bot account (cosmetic); call before `env.start()`."""
    user: Any = getattr(env.backend, "bot_user", None)
    if user is not None:
        user.name = name


def supports_republish(preview: simcord.Preview) -> bool:
    return all(hasattr(preview, name) for name in ("_publish", "_pages", "_active_action", "_closed"))


class LiveRefresher:
    """While jobs change, republishes the pages when the bot changed something, at most every `min_interval` s."""

    def __init__(
        self, env: simcord.Env, preview: simcord.Preview, *, min_interval: float = MIN_INTERVAL, linger: float = LINGER
    ) -> None:
        self._env = env
        self._preview = preview
        self._min_interval = min_interval
        self._linger = linger
        self._last_event = -float("inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Every REST call the bot made (public `Env.http_requests`): when it grows, a message
        # was posted or edited and the pages are out of date.
        self._seen_requests = len(env.http_requests)
        self._republish = supports_republish(preview)
        self.published = 0
        if not self._republish:
            log.warning("this SimCord version lacks the republish hook; live updates use Preview.refresh()")

    def on_job_event(self, event: JobEvent) -> None:
        """EventBus listener: synchronous and non-blocking, it only marks the pages stale."""
        self._last_event = time.monotonic()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="preview-live-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while time.monotonic() - self._last_event < self._linger:
                requests = len(self._env.http_requests)
                if requests != self._seen_requests and await self._publish_once():
                    self._seen_requests = requests
                await asyncio.sleep(self._min_interval)

    async def _publish_once(self) -> bool:
        """True when the pages were republished; False to try again on the next tick."""
        preview: Any = self._preview
        try:
            if self._republish:
                if preview._closed or preview._active_action is not None:
                    return False
                align_clock_to_wall(self._env)  # the page's "now" is SimCord's clock: keep it the wall's
                if hasattr(preview, "_advance_presentation_time"):
                    preview._advance_presentation_time()  # so "today at …" stamps stay current
                for page in tuple(preview._pages.values()):
                    if page.id in preview._pages:  # a publish may prune expired pages
                        preview._publish(page, reason="refresh")
            else:
                await preview.refresh()
        except simcord.SetupError as error:
            # Closed or busy: the next tick catches up.
            log.debug("preview republish skipped: %s", error)
            return False
        self.published += 1
        return True
