"""WebM demo clips (what the preview renders) are posted and shown again as .webm files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.jobs import JobState
from bot.media.probe import probe_video
from bot.settings import Settings
from tests.discord.simworld import World, job_id_of


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"demo_format": "webm"})


async def test_a_webm_clip_is_posted_as_webm(world: World, tmp_path: Path) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt="a lighthouse in fog", seconds=2)
    assert result.response is not None
    job = await world.finished(job_id_of(result.response))
    assert job.state is JobState.DELIVERED and job.result_path is not None
    assert job.result_path.endswith(f"{job.id}.webm")
    posted = world.channel.last_message
    assert posted is not None and posted.attachments[0].filename == f"{job.id}.webm"
    data = world.env.backend.cdn.get(posted.attachments[0].url)
    assert data is not None
    (tmp_path / "posted.webm").write_bytes(data)
    assert probe_video(tmp_path / "posted.webm").codec == "vp9"

    shown = await world.bob.slash(world.channel, "show", job=job.id)
    assert shown.response is not None and shown.response.attachments[0].filename == f"{job.id}.webm"
