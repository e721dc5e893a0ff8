"""Where polls go: aimed at the expected finish, dense only near it, never drifting; in virtual time."""

from __future__ import annotations

import pytest

from bot.backends.base import BackendCapabilities, BackendJob, PollResult
from bot.jobs import polling
from bot.jobs.polling import DENSE_GAP, poll_until_done


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class TimedJob:
    """A provider job that finishes `finish` seconds in; each poll takes `request_time`."""

    name = "timed"

    def __init__(
        self,
        time: VirtualTime,
        finish: float,
        *,
        queued_until: float = 0.0,
        request_time: float = 0.0,
        min_poll_gap: float = 0.0,
    ) -> None:
        self.time = time
        self.finish = finish
        self.queued_until = queued_until
        self.request_time = request_time
        self.capabilities = BackendCapabilities(min_poll_gap=min_poll_gap)
        self.polls: list[float] = []

    async def poll(self, job: BackendJob) -> PollResult:
        sent = self.time.now
        self.polls.append(sent)
        self.time.now += self.request_time
        if sent >= self.finish:
            return PollResult("succeeded", result_url="https://cdn.example/clip.mp4")
        if sent < self.queued_until:
            return PollResult("queued", queue_position=1)
        return PollResult("running")


async def _run(provider: TimedJob, time: VirtualTime, expected: float | None, elapsed: float = 0.0) -> float:
    await poll_until_done(
        provider,  # type: ignore[arg-type]
        BackendJob("job"),
        on_update=lambda result: None,
        timeout=3600,
        expected_seconds=expected,
        elapsed=elapsed,
        clock=time.clock,
        sleep=time.sleep,
    )
    return provider.polls[-1] - provider.finish  # how long the finished job went unseen


@pytest.mark.parametrize(("finish", "most_polls"), [(45.0, 8), (90.0, 10)])
async def test_a_job_that_runs_as_expected_costs_a_few_polls_and_is_seen_at_once(
    finish: float, most_polls: int
) -> None:
    time = VirtualTime()
    provider = TimedJob(time, finish, request_time=0.08)
    unseen = await _run(provider, time, expected=finish)

    assert unseen <= DENSE_GAP
    assert len(provider.polls) <= most_polls


async def test_gaps_start_when_the_request_is_sent_so_slow_requests_do_not_drift() -> None:
    time = VirtualTime()
    provider = TimedJob(time, 45.0, request_time=0.3)
    await _run(provider, time, expected=45.0)

    last_gap = provider.polls[-1] - provider.polls[-2]
    assert last_gap == pytest.approx(DENSE_GAP)  # not DENSE_GAP plus the request's 0.3 s


async def test_a_provider_queue_moves_the_aim_out() -> None:
    time = VirtualTime()
    provider = TimedJob(time, 75.0, queued_until=30.0)
    unseen = await _run(provider, time, expected=45.0)

    assert unseen <= 1.0
    assert len(provider.polls) <= 14


async def test_a_late_job_is_polled_less_and_less() -> None:
    time = VirtualTime()
    provider = TimedJob(time, 200.0)
    await _run(provider, time, expected=45.0)

    gaps = [later - earlier for earlier, later in zip(provider.polls, provider.polls[1:], strict=False)]
    assert len(provider.polls) <= 40
    assert gaps[-1] == pytest.approx(polling.MAX_DELAY)


async def test_a_resumed_job_aims_at_what_is_left() -> None:
    time = VirtualTime()
    provider = TimedJob(time, 15.0)  # 30 of its 45 s passed before a restart
    unseen = await _run(provider, time, expected=45.0, elapsed=30.0)

    assert unseen <= DENSE_GAP
    assert len(provider.polls) <= 6


async def test_the_providers_minimum_gap_is_kept() -> None:
    time = VirtualTime()
    provider = TimedJob(time, 45.0, min_poll_gap=5.0)
    await _run(provider, time, expected=45.0)

    gaps = [later - earlier for earlier, later in zip(provider.polls, provider.polls[1:], strict=False)]
    assert min(gaps) >= 5.0


async def test_without_an_expectation_polls_back_off() -> None:
    time = VirtualTime()
    provider = TimedJob(time, 30.0)
    await _run(provider, time, expected=None)

    gaps = [later - earlier for earlier, later in zip(provider.polls, provider.polls[1:], strict=False)]
    assert gaps[0] == pytest.approx(polling.FIRST_DELAY)
    assert gaps == sorted(gaps)
