"""Wait for a provider job to finish, polling where the finish is expected.

Shared by the runner (which checkpoints each step in the store) and the `render`
command (which just shows a progress bar).

With an expected run time (the model's measured time from submit to the provider's
result), polls close in on the expected finish: each gap is a share of the time still
expected, so a 45 s job costs a handful of requests, and near the finish they come
every `DENSE_GAP` seconds, so a finished job is seen within about that. A job that
runs late is polled densely for a while, then less and less often. A provider still
queueing the job (position 1 or more) moves the expected finish out to a full run from
when it starts.
Each gap is measured from when the previous poll was sent, so polls do not drift by
the requests' own time. Without an expectation, polls back off from `FIRST_DELAY`.

A backend whose provider pushes the job's states (`StatusStream`: fal's server-sent
status events) is followed on that one request instead; when the stream fails or
ends early, the polls above take over where it left off.

`PollResult.poll_after` is a backend's "poll again by then" (the demo renderer and
test stand-ins finish in well under a second); `capabilities.min_poll_gap` is the
provider's "not more often than" (Runway asks for 5 s).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import cast

from bot.backends.base import Backend, BackendError, BackendErrorKind, BackendJob, PollResult, StatusStream

log = logging.getLogger(__name__)

ProgressCallback = Callable[[PollResult], None]

FIRST_DELAY = 1.0
MAX_DELAY = 10.0
# Retryable poll failures in a row before the job is given up as unavailable.
MAX_POLL_FAILURES = 8
# Near the expected finish: the worst wait between the provider's finish and the bot seeing it.
DENSE_GAP = 0.5
# Each gap before the finish is this share of the time still expected, and at most MAX_AIMED_GAP,
# so a job that finishes (or fails) early is still seen within that.
APPROACH = 0.75
MAX_AIMED_GAP = 20.0
# While the provider queues the job behind others, polls come this share of a run apart,
# so the start (and with it the finish) is known to within half of that.
QUEUED_SHARE = 0.125
# Past the expected finish, dense polls go on for this share of the run time, then spread out.
LATE_WINDOW = 0.1
LATE_GROWTH = 0.25

_FINAL = ("succeeded", "failed", "canceled")


@dataclass(slots=True)
class PollAim:
    """Where the next poll goes, from the expected finish (monotonic seconds)."""

    run_seconds: float
    finish: float
    queued_at: float | None = None  # the last poll that found the job behind others

    @classmethod
    def starting(cls, run_seconds: float, elapsed: float, now: float) -> PollAim:
        return cls(run_seconds=run_seconds, finish=now - elapsed + run_seconds)

    def note(self, result: PollResult, now: float) -> None:
        if result.state == "queued" and (result.queue_position or 0) >= 1:
            self.queued_at = now
            self.finish = max(self.finish, now + self.run_seconds)
        elif self.queued_at is not None:
            # It started between the last two polls: a full run from halfway between them.
            self.finish = max(self.finish, (self.queued_at + now) / 2 + self.run_seconds)
            self.queued_at = None

    def gap(self, now: float) -> float:
        if self.queued_at is not None:
            return max(DENSE_GAP, self.run_seconds * QUEUED_SHARE)
        remaining = self.finish - now
        if remaining > DENSE_GAP:
            return max(DENSE_GAP, min(remaining * APPROACH, MAX_AIMED_GAP))
        overdue = -remaining
        if overdue <= LATE_WINDOW * self.run_seconds:
            return DENSE_GAP
        return min(max(DENSE_GAP, overdue * LATE_GROWTH), MAX_DELAY)


@functools.cache
def _streams_status(backend_type: type[Backend]) -> bool:
    """Whether a backend class follows jobs by a status stream (a runtime protocol check is slow: once per class)."""
    return issubclass(backend_type, StatusStream)


async def poll_until_done(
    backend: Backend,
    job: BackendJob,
    *,
    on_update: ProgressCallback,
    timeout: float,
    expected_seconds: float | None = None,
    elapsed: float = 0.0,
    first_delay: float = FIRST_DELAY,
    max_delay: float = MAX_DELAY,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> PollResult:
    """Poll until the provider says succeeded, failed or canceled.

    `expected_seconds` is the run time expected from submit to result and `elapsed` how
    much of it has passed (a job resumed after a restart). Raises BackendError(TIMEOUT)
    past `timeout` seconds, or the last retryable error after too many failed polls in
    a row. A `failed` result is returned, not raised.
    """
    start = clock()
    deadline = start + timeout
    aim = PollAim.starting(expected_seconds, elapsed, start) if expected_seconds else None
    if _streams_status(type(backend)):
        followed = await _follow_stream(cast(StatusStream, backend), job, on_update, timeout)
        if followed is not None:
            return followed
    floor = backend.capabilities.min_poll_gap
    delay = first_delay
    failures = 0
    while True:
        sent = clock()
        try:
            result = await backend.poll(job)
        except BackendError as error:
            if not error.retryable:
                raise
            failures += 1
            if failures >= MAX_POLL_FAILURES:
                raise
            wait = error.retry_after if error.retry_after is not None else delay
        else:
            failures = 0
            on_update(result)
            if result.state in _FINAL:
                return result
            wait = _planned_gap(aim, result, sent, delay)
        wait = min(max(wait, floor), max_delay if aim is None else max(max_delay, MAX_AIMED_GAP))
        if sent + wait > deadline:
            raise BackendError(BackendErrorKind.TIMEOUT, f"no result after {timeout:.0f} s")
        await sleep(max(0.0, sent + wait - clock()))
        delay = min(delay * 1.5, max_delay)


async def _follow_stream(
    backend: StatusStream, job: BackendJob, on_update: ProgressCallback, timeout: float
) -> PollResult | None:
    """The job's final result from the provider's status stream; None when the stream gave out first."""
    try:
        async with asyncio.timeout(timeout), aclosing(backend.status_stream(job)) as results:
            async for result in results:
                on_update(result)
                if result.state in _FINAL:
                    return result
    except TimeoutError:
        raise BackendError(BackendErrorKind.TIMEOUT, f"no result after {timeout:.0f} s") from None
    except BackendError as error:
        log.info("status stream for %s gave out (%s); polling instead", job.id, error)
    return None


def _planned_gap(aim: PollAim | None, result: PollResult, sent: float, backoff: float) -> float:
    if aim is None:
        return result.poll_after if result.poll_after is not None else backoff
    aim.note(result, sent)
    gap = aim.gap(sent)
    return gap if result.poll_after is None else min(gap, result.poll_after)
