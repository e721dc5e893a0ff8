"""The process's share of Discord's limits, on a clock the test moves."""

from __future__ import annotations

import random

import pytest

from bot.discord_glue.budget import (
    INVALID_MARGIN,
    INVALID_REQUEST_LIMIT,
    INVALID_WINDOW_SECONDS,
    RECOVERY_SECONDS,
    DiscordBudget,
)


class VirtualTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime()


def budget_on(time: VirtualTime, rate: float, processes: int = 1) -> DiscordBudget:
    return DiscordBudget(rate, processes=processes, clock=time, sleep=time.sleep, rng=random.Random(1))


async def test_requests_are_spaced_by_the_share_of_the_bot_rate(time: VirtualTime) -> None:
    budget = budget_on(time, 40, processes=4)  # 10 a second each
    start = time.now
    for _ in range(101):
        await budget.before_request()
    assert time.now - start == pytest.approx(10.0)  # one every 0.1 s
    time.now += 60  # idle: a small burst may go at once, never a minute's worth
    idle_end, sleeps = time.now, len(time.slept)
    for _ in range(10):
        await budget.before_request()
    assert len(time.slept) - sleeps == 10 - 3
    assert time.now - idle_end == pytest.approx(0.9 - 0.2)


async def test_more_processes_make_each_share_smaller(time: VirtualTime) -> None:
    budget = budget_on(time, 40)
    assert budget.rate() == 40
    budget.set_processes(5)
    assert budget.rate() == 8
    assert budget.invalid_share == INVALID_REQUEST_LIMIT * INVALID_MARGIN / 5


async def test_a_429_halves_the_rate_which_recovers(time: VirtualTime) -> None:
    budget = budget_on(time, 40)
    budget.after_response(429, {"X-RateLimit-Scope": "user", "Retry-After": "1"})
    assert budget.rate() == 20
    time.now += RECOVERY_SECONDS / 2
    assert budget.rate() == pytest.approx(30)
    time.now += RECOVERY_SECONDS
    assert budget.rate() == 40


async def test_a_global_429_holds_every_request_past_its_retry_after(time: VirtualTime) -> None:
    budget = budget_on(time, 40)
    budget.after_response(429, {"X-RateLimit-Global": "true", "Retry-After": "2"})
    start = time.now
    await budget.before_request()
    waited = time.now - start
    assert 2.0 <= waited <= 2.0 * 1.25  # with a little jitter, so workers do not return together


async def test_past_the_invalid_share_nothing_leaves_until_the_window_slides(time: VirtualTime) -> None:
    budget = budget_on(time, 50, processes=10)
    for _ in range(budget.invalid_share):
        budget.after_response(403)
    first_invalid = time.now
    await budget.before_request()
    assert time.now >= first_invalid + INVALID_WINDOW_SECONDS
    await budget.before_request()  # the window moved on: back to normal spacing
    assert time.slept[-1] <= 1 / 5 + 1e-9
