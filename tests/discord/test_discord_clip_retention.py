"""/show of a clip whose file the bot no longer keeps (MEDIA_RETENTION_DAYS=0: removed once posted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.jobs import JobState
from bot.settings import Settings
from tests.discord.simworld import World, job_id_of, layout_text
from tests.waiting import until


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"media_retention_days": 0})


async def test_show_of_a_removed_clip_says_so_and_links_the_posted_message(world: World) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt="a lighthouse in fog", seconds=2)
    assert result.response is not None
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.DELIVERED and job.result_path is not None
    clip = Path(job.result_path)
    await until(lambda: not clip.exists(), "the posted clip's file to be removed")

    shown = await world.alice.slash(world.channel, "show", job=job.id)

    assert shown.response is not None
    posted = f"https://discord.com/channels/{world.guild.id}/{world.channel.id}/{job.result_message_id}"
    said = layout_text(shown.response)
    assert "no longer keeps this clip's file" in said
    assert posted in said
    assert not shown.response.attachments
