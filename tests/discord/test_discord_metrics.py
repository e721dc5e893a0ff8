"""The metrics and health endpoints of a running bot (SimCord), read over HTTP."""

from __future__ import annotations

import httpx

from bot.commands.run import RUN_PARTS
from bot.health_server import serving
from bot.settings import Settings
from tests.discord.simworld import World
from tests.ops.scrape import scrape


async def test_a_delivered_job_and_its_answer_show_in_the_metrics(world: World, settings: Settings) -> None:
    with_port = settings.model_copy(update={"metrics_port": 0})
    async with serving(with_port, parts=RUN_PARTS) as server:
        assert server is not None
        before = await scrape(server.url)

        result = await world.alice.slash(world.channel, "generate", prompt="a lighthouse in fog", seconds=2)
        assert result.response is not None and not result.ephemeral
        refused = await world.alice.slash(world.channel, "generate", prompt="too long", seconds=10)
        assert refused.ephemeral

        after = await scrape(server.url)
        async with httpx.AsyncClient(timeout=10) as client:
            live = await client.get(f"{server.url}/livez")
            ready = await client.get(f"{server.url}/readyz")

    delivered = {"state": "delivered", "reason": ""}
    assert (
        after.value("footage_jobs_finished_total", **delivered)
        == before.value("footage_jobs_finished_total", **delivered) + 1
    )
    for histogram in ("queue_wait", "provider_run", "fetch", "fit", "post"):
        labels = {"backend": "demo"} if histogram == "provider_run" else {}
        name = f"footage_{histogram}_seconds_count"
        assert after.value(name, **labels) == before.value(name, **labels) + 1, histogram
    # Both first answers were timed: the status message and the ephemeral refusal.
    assert (
        after.value("footage_interaction_ack_seconds_count")
        == before.value("footage_interaction_ack_seconds_count") + 2
    )
    assert after.value("footage_database_batch_seconds_count") > before.value("footage_database_batch_seconds_count")
    assert {"footage_jobs_waiting", "footage_jobs_running", "footage_reencodes"} <= after.families
    assert live.status_code == 200 and live.json()["live"] is True
    assert ready.status_code == 200 and ready.json() == {"ready": True}
