from __future__ import annotations

from tests.discord.simworld import World, job_id_of


async def test_generate_posts_status_then_clip(world: World) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt="a lighthouse in fog", seconds=2)
    assert result.response is not None
    assert not result.ephemeral
    job_id = job_id_of(result.response)
    job = await world.job(job_id)
    print(job.state, job.failure, job.failure_detail)
    for m in world.channel.history():
        print(m.id, m.content[:80], [e.title for e in m.embeds], [a.size for a in m.attachments])
