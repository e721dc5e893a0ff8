"""A first answer that comes after Discord's 3 s: the queued job is still seen and followed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord_glue.services import services_of
from bot.domain.jobs import JobState
from tests.discord.simworld import World, job_id_of, layout_text


async def test_a_job_answered_too_late_gets_its_status_message_in_the_channel(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = services_of(world.env.bot).core.jobs
    enqueue = jobs.enqueue

    async def slow_enqueue(*args: Any, **kwargs: Any) -> Any:
        enqueued = await enqueue(*args, **kwargs)
        world.env.backend.advance_clock(3.5)  # a starved host: Discord stops waiting for the answer
        return enqueued

    monkeypatch.setattr(jobs, "enqueue", slow_enqueue)

    await world.alice.slash(world.channel, "generate", prompt="a late answer", seconds=2)

    status = next(m for m in world.channel.history() if m.components and "> a late answer" in layout_text(m))
    job = await world.job(job_id_of(status))
    assert job.status_message_id == status.id
    assert job.state is JobState.DELIVERED
    refreshed = next(m for m in world.channel.history() if m.id == status.id)
    assert "### ✅ Done" in layout_text(refreshed)
