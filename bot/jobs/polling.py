"""Wait for a provider job to finish: poll with backoff that follows the provider's hints.

Shared by the runner (which checkpoints each step in the store) and the `render`
command (which just shows a progress bar).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.backends.base import Backend, BackendError, BackendErrorKind, BackendJob, PollResult

ProgressCallback = Callable[[PollResult], None]

FIRST_DELAY = 1.0
MAX_DELAY = 10.0
# Retryable poll failures in a row before the job is given up as unavailable.
MAX_POLL_FAILURES = 8


async def poll_until_done(
    backend: Backend,
    job: BackendJob,
    *,
    on_update: ProgressCallback,
    timeout: float,
    first_delay: float = FIRST_DELAY,
    max_delay: float = MAX_DELAY,
) -> PollResult:
    """Poll until the provider says succeeded, failed or canceled.

    Raises BackendError(TIMEOUT) past `timeout` seconds, or the last retryable error
    after too many failed polls in a row. A `failed` result is returned, not raised.
    """
    deadline = time.monotonic() + timeout
    delay = first_delay
    failures = 0
    while True:
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
            if result.state in ("succeeded", "failed", "canceled"):
                return result
            wait = result.poll_after if result.poll_after is not None else delay
        if time.monotonic() + wait > deadline:
            raise BackendError(BackendErrorKind.TIMEOUT, f"no result after {timeout:.0f} s")
        await asyncio.sleep(min(wait, max_delay))
        delay = min(delay * 1.5, max_delay)
