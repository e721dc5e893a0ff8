"""The preview in-process (no browser): one clock, what renders, answers that never wait for jobs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.jobs import JobState
from bot.preview.session import PreviewOptions, open_preview
from bot.settings import Settings
from tests.waiting import until

# The demo's run time in the test below: the first job is still running when the second command is answered.
LATENCY_SECONDS = 30.0
# Longer than the 3 s Discord allows for a first answer.
IDLE_SECONDS = 4.0


async def test_the_bot_and_the_page_share_one_clock_and_start_up_names_the_backend(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, footage_backend="fal", fal_model="fal-ai/some-model", media_dir=tmp_path / "clips"
    )
    options = PreviewOptions(database_path=tmp_path / "preview.db", latency=0.1)
    async with open_preview(settings, options) as session:
        services = session.bot.footage
        assert services is not None
        await asyncio.sleep(1.5)  # SimCord's own clock only moves when something moves it
        bot_now = services.clock()
        page_now = session.env.backend.clock.now()  # message times and the page's "now"
        assert abs((bot_now - page_now).total_seconds()) < 0.05
        assert abs((bot_now - datetime.now(UTC)).total_seconds()) < 2.0

    said = caplog.text
    assert "the preview renders with the demo backend, not the configured one (FOOTAGE_BACKEND=fal)" in said
    assert "FAL_KEY is not set" in said
    assert "video backends: demo" in said
    assert "static token" not in said


async def test_a_command_sent_while_a_job_runs_is_answered_without_waiting_for_the_job(tmp_path: Path) -> None:
    """Every page action waits for the bot's work to settle: a running job's pauses must not count.

    The settle deadline here is longer than the whole job, so a pause that settling
    waited for would hold the second answer until the first job was delivered (in the
    preview, with its 1.5 s deadline, the page said "Action was not completed").
    """
    settings = Settings(_env_file=None, media_dir=tmp_path / "clips")  # type: ignore[call-arg]
    options = PreviewOptions(
        database_path=tmp_path / "preview.db", latency=LATENCY_SECONDS, settle_timeout=LATENCY_SECONDS * 2
    )
    async with open_preview(settings, options) as session:
        world = session.world
        services = session.bot.footage
        assert services is not None
        runner = services.core.runner

        def first_job_states() -> list[JobState]:
            return [job.state for job in runner.running_jobs() if job.request.prompt == "a red fox"]

        await world.you.slash(world.channel, "generate", prompt="a red fox", seconds=4)
        await until(lambda: first_job_states() == [JobState.RUNNING], "the first job to run", timeout=LATENCY_SECONDS)
        answered = await world.teammate.slash(world.channel, "generate", prompt="a boat at dawn", seconds=4)
        assert answered.response is not None
        assert first_job_states() == [JobState.RUNNING]


async def test_a_command_sent_after_the_preview_sat_idle_is_answered_in_time(tmp_path: Path) -> None:
    """SimCord's clock follows the wall while the bot reads no time, so a new interaction is not born stale.

    Discord allows 3 s for a first answer, counted on SimCord's clock. Moved only by the
    bot's own clock reads, that clock stood still while the preview was idle; the next
    command was created at the stale time, the bot's first read moved the clock to now,
    and the answer was refused as expired (the status was then posted in the channel).
    """
    settings = Settings(_env_file=None, media_dir=tmp_path / "clips")  # type: ignore[call-arg]
    async with open_preview(settings, PreviewOptions(database_path=tmp_path / "preview.db", latency=0.1)) as session:
        world = session.world
        await asyncio.sleep(IDLE_SECONDS)  # the idle spell is the situation under test, not a wait for something
        answered = await world.you.slash(world.channel, "generate", prompt="after a quiet spell", seconds=4)
        assert answered.response is not None
