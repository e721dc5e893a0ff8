"""While the bot stops (SIGTERM), what still arrives is answered "restarting", and nothing starts."""

from __future__ import annotations

from bot.discord_glue.errors import RESTARTING
from tests.discord.simworld import World


async def test_interactions_during_a_stop_hear_restarting_and_queue_nothing(world: World) -> None:
    await world.bot.begin_stop()

    generate = await world.alice.slash(world.channel, "generate", prompt="a lighthouse in fog", seconds=2)
    queue = await world.alice.slash(world.channel, "queue")

    for result in (generate, queue):
        assert result.ephemeral and result.response is not None
        assert result.response.content == RESTARTING
    services = world.bot.footage
    assert services is not None
    assert await services.core.jobs.open_jobs(world.guild.id, world.alice.id) == []
