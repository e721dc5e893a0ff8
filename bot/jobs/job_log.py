"""One log line when a job ends, whatever ended it: id, state, reason, seconds.

A job can end in the runner (delivered, failed at any step), in a cancel, or at a
restart; listening to the events catches every one in the same words, at INFO for
a delivery or cancel and WARNING for a failure, so the default level shows them all.
"""

from __future__ import annotations

import logging

from bot.domain.jobs import JobState
from bot.jobs.events import JobEvent

log = logging.getLogger(__name__)

DETAIL_LIMIT = 200


def log_job_end(event: JobEvent) -> None:
    """EventBus listener."""
    job = event.job
    if event.kind != "state" or not job.state.finished:
        return
    level = logging.WARNING if job.state is JobState.FAILED else logging.INFO
    if not log.isEnabledFor(level):
        return
    end = job.finished_at or job.updated_at
    seconds = (end - job.created_at).total_seconds()
    reason = ""
    if job.failure is not None:
        detail = " ".join((job.failure_detail or "").split())
        if len(detail) > DETAIL_LIMIT:
            detail = detail[: DETAIL_LIMIT - 1] + "…"
        reason = f" ({job.failure.value}: {detail})" if detail else f" ({job.failure.value})"
    log.log(level, "job %s %s%s after %.1f s (%s, %s s)", job.id, job.state.value, reason, seconds,
            job.request.model, job.request.seconds)  # fmt: skip
