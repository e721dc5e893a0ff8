"""Whatever users do, reserved + used always equals the sum of the ledger."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.domain.jobs import JobState
from bot.jobs.refusal import Refusal
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, origin, request

actions = st.lists(
    st.tuples(st.sampled_from(["enqueue", "cancel", "finish"]), st.integers(1, 3), st.sampled_from([2, 4, 8])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
async def test_ledger_matches_job_states(
    tmp_path_factory: object,
    small_clip: Path,
    fresh_store_url: Callable[[], str],
    steps: list,  # type: ignore[type-arg]
) -> None:
    harness = CoreHarness(tmp_path_factory.mktemp("ledger"), small_clip)  # type: ignore[attr-defined]
    harness.backend.auto_release = False
    core = await harness.open(default_max_queued=4, default_daily_seconds=30, database_url=SecretStr(fresh_store_url()))
    jobs: list[str] = []
    try:
        for action, user, seconds in steps:
            if action == "enqueue":
                with contextlib.suppress(Refusal):
                    jobs.append((await core.jobs.enqueue(origin(user), request(seconds=seconds), Member(user))).job.id)
            elif jobs and action == "cancel":
                with contextlib.suppress(Refusal):
                    await core.jobs.cancel(jobs[user % len(jobs)], Member(user, is_moderator=True), GUILD)
            elif jobs:
                harness.backend.script(jobs[user % len(jobs)]).release.set()
            assert await core.reports.ledger_check() == []
        for job_id in jobs:
            harness.backend.script(job_id).release.set()
        for job_id in jobs:
            await harness.until(job_id, JobState.DELIVERED, JobState.CANCELED)
        assert await core.reports.ledger_check() == []
    finally:
        await harness.close()
