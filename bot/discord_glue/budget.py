"""The bot's share of Discord's REST limits, for a process that is one of several.

Discord's limits belong to the bot, not to a process: 50 requests per second globally,
and 10,000 invalid requests (401, 403, 429) in 10 minutes earn the bot a temporary ban.
discord.py keeps the per-route buckets and obeys each 429's `retry_after`, but only
within its own process; several workers, each doing that alone, would together send
`workers` times the global rate. So each process takes an equal share of a bot-wide
budget and paces every request it sends (the first attempt and every retry) through
aiohttp's request hooks, which discord.py's HTTP client accepts as `http_trace`.

After a 429 the share is halved and grows back over `RECOVERY_SECONDS`, and after a
global 429 nothing leaves until its `retry_after` (plus a little jitter, so that the
workers do not all come back in the same instant) has passed: backing off instead of
storming. The invalid-request count is kept per process against the same equal share
of Discord's 10,000, with half of it held back as a margin; past it the process stops
sending until the oldest counted answer is ten minutes old.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import aiohttp

Clock = Callable[[], float]
Sleeper = Callable[[float], Awaitable[None]]

INVALID_REQUEST_LIMIT = 10_000  # per bot, in INVALID_WINDOW_SECONDS (Discord's figure)
INVALID_WINDOW_SECONDS = 600.0
INVALID_MARGIN = 0.5  # the share of that limit this bot allows itself
INVALID_STATUSES = frozenset({401, 403, 429})
SLOWDOWN_FACTOR = 0.5
RECOVERY_SECONDS = 30.0
BURST_SECONDS = 0.2  # an idle process may send this many seconds' worth of requests at once
GLOBAL_JITTER = 0.25  # fraction of a global retry_after added at random


class DiscordBudget:
    """Paces one process's Discord requests within its share of the bot's limits."""

    def __init__(
        self,
        requests_per_second: float,
        *,
        processes: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleeper = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._bot_rate = requests_per_second
        self._processes = max(processes, 1)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._next_slot = clock()
        self._paused_until = 0.0
        self._slowed_at: float | None = None
        self._invalid: deque[float] = deque()
        self.sent = 0
        self.rate_limited = 0

    @property
    def processes(self) -> int:
        return self._processes

    def set_processes(self, processes: int) -> None:
        """How many processes share the bot's budget now (they come and go)."""
        self._processes = max(processes, 1)

    @property
    def invalid_share(self) -> int:
        return max(int(INVALID_REQUEST_LIMIT * INVALID_MARGIN / self._processes), 1)

    def rate(self) -> float:
        """Requests per second this process may send now."""
        share = self._bot_rate / self._processes
        if self._slowed_at is None:
            return share
        recovered = (self._clock() - self._slowed_at) / RECOVERY_SECONDS
        if recovered >= 1.0:
            self._slowed_at = None
            return share
        return share * (SLOWDOWN_FACTOR + (1.0 - SLOWDOWN_FACTOR) * recovered)

    async def before_request(self) -> None:
        """Wait for this request's slot: a pause after a global 429, the invalid budget, the rate."""
        now = self._clock()
        self._forget_old_invalid(now)
        waits = [self._paused_until - now]
        if len(self._invalid) >= self.invalid_share:
            waits.append(self._invalid[0] + INVALID_WINDOW_SECONDS - now)
        interval = 1.0 / self.rate()
        # A slot a little in the past is a small burst allowance after an idle spell.
        slot = max(self._next_slot, now - BURST_SECONDS, max(waits, default=0.0) + now)
        self._next_slot = slot + interval
        self.sent += 1
        if slot > now:
            await self._sleep(slot - now)

    def after_response(self, status: int, headers: dict[str, str] | None = None) -> None:
        now = self._clock()
        if status in INVALID_STATUSES:
            self._invalid.append(now)
        if status != 429:
            return
        self.rate_limited += 1
        self._slowed_at = now
        headers = headers or {}
        if headers.get("X-RateLimit-Global", "").lower() == "true" or headers.get("X-RateLimit-Scope") == "global":
            retry_after = _seconds(headers.get("Retry-After"))
            self._paused_until = max(self._paused_until, now + retry_after * (1 + GLOBAL_JITTER * self._rng.random()))

    def _forget_old_invalid(self, now: float) -> None:
        while self._invalid and self._invalid[0] <= now - INVALID_WINDOW_SECONDS:
            self._invalid.popleft()

    def trace_config(self, config: aiohttp.TraceConfig | None = None) -> aiohttp.TraceConfig:
        """Hooks for discord.py's HTTP client (`http_trace`): every request waits for its slot.

        discord.py takes one trace config: pass the one already in use to add these hooks to it.
        """
        config = config or aiohttp.TraceConfig()

        async def on_start(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
        ) -> None:
            await self.before_request()

        async def on_end(
            session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
        ) -> None:
            self.after_response(params.response.status, dict(params.response.headers))

        config.on_request_start.append(on_start)
        config.on_request_end.append(on_end)
        return config


def _seconds(value: str | None) -> float:
    try:
        return max(float(value or 1.0), 0.0)
    except ValueError:
        return 1.0
