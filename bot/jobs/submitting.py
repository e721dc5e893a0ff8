"""Submit a generation, waiting out a provider's "slow down" for as long as the caller allows.

A 429 on submit means the provider did not take the job, so sending it again later
is safe. The wait follows the provider's Retry-After when it gives one, else a
doubling backoff. Nothing here gives up: the caller's deadline (the job's, or
`render --timeout`) ends the wait. Shared by the runner and the `render` command.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.backends.base import Backend, BackendError, BackendErrorKind, BackendJob, GenerationRequest

log = logging.getLogger(__name__)

FIRST_WAIT = 2.0
MAX_WAIT = 60.0
# Even a provider that says "retry after 0 s" is not sent the job again in a tight loop.
MIN_WAIT = 1.0

# Told how long the job will wait before it is sent again.
WaitCallback = Callable[[float], None]
Sleep = Callable[[float], Awaitable[None]]


async def submit_when_allowed(
    backend: Backend, request: GenerationRequest, *, on_wait: WaitCallback, sleep: Sleep
) -> BackendJob:
    delay = FIRST_WAIT
    while True:
        try:
            return await backend.submit(request)
        except BackendError as error:
            if error.kind is not BackendErrorKind.RATE_LIMITED:
                raise
            wait = max(error.retry_after if error.retry_after is not None else delay, MIN_WAIT)
            delay = min(delay * 2, MAX_WAIT)
            log.info(
                "%s asked to slow down on submit of %s; sending again in %.1f s", backend.name, request.job_id, wait
            )
            on_wait(wait)
            await sleep(wait)
