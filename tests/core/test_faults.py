"""Faults around a job: what members are shown, deadlines, waiting out a provider's "slow down"."""

from __future__ import annotations

from bot.backends.base import BackendError, BackendErrorKind
from bot.domain.jobs import FailureReason, JobState
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, origin, request


async def test_members_see_a_short_plain_reason_without_markup_or_server_paths(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(), Member(1))
    detail = "<html><body><h1>Render failed</h1></body></html> reading /srv/footage/data/clips/X.mp4\n\x1b[31m"
    harness.backend.script(queued.job.id).poll_error = BackendError(BackendErrorKind.GENERATION_FAILED, detail)
    await core.start()
    failed = await harness.until(queued.job.id, JobState.FAILED)
    assert failed.failure is FailureReason.GENERATION_FAILED
    assert failed.failure_detail == "Render failed reading X.mp4 \\x1b[31m"
    assert (await core.quotas.status(GUILD, Member(1))).day_used == 0
    assert await core.reports.ledger_check() == []
