"""A process with no gateway posts clips and edits status messages over Discord's REST API alone.

The real discord.py client (logged in, never connected) talks to a loopback stand-in
for Discord's REST API; the core runs on a real SQLite file with a scripted backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import discord
import pytest

from bot.discord_glue.budget import DiscordBudget
from bot.discord_glue.delivery import DiscordDeliverer
from bot.discord_glue.rest import RestDiscord
from bot.domain.jobs import JobState
from bot.jobs.delivery import Clip
from bot.media.probe import probe_video_async
from bot.quotas.service import Member
from tests.core.conftest import CHANNEL, CoreHarness, origin, request
from tests.discord.rest_stand_in import DiscordRestStandIn
from tests.discord.simworld import button_labels, layout_text

STATUS_MESSAGE = 5555
USER = 77


@pytest.fixture
async def discord_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordRestStandIn]:
    stand_in = DiscordRestStandIn()
    await stand_in.start()
    monkeypatch.setattr(discord.http.Route, "BASE", stand_in.api_base)
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def harness(tmp_path: Path, small_clip: Path) -> AsyncIterator[CoreHarness]:
    harness = CoreHarness(tmp_path, small_clip)
    yield harness
    await harness.close()


async def open_rest(harness: CoreHarness, budget: DiscordBudget) -> RestDiscord:
    core = await harness.open(start=False)
    return await RestDiscord.open(core, "a-bot-token", budget, harness.clock, edit_interval=0.01)


async def test_a_finished_job_is_posted_once_with_its_nonce_and_its_status_edited(
    harness: CoreHarness, discord_api: DiscordRestStandIn
) -> None:
    rest = await open_rest(harness, DiscordBudget(40))
    try:
        core = harness.core
        assert core is not None
        await core.start()
        enqueued = await core.jobs.enqueue(origin(USER), request(), Member(USER))
        await core.jobs.attach_status(enqueued.job.id, CHANNEL, STATUS_MESSAGE)
        delivered = await harness.until(enqueued.job.id, JobState.DELIVERED)
        # The last edit (the "done" card) may still be on its way after the state moved.
        for _ in range(500):
            edits = discord_api.messages[STATUS_MESSAGE].edits if STATUS_MESSAGE in discord_api.messages else []
            if edits and "### ✅ Done" in layout_text(edits[-1]["components"]):
                break
            await asyncio.sleep(0.01)
        assert button_labels(edits[-1]["components"]) == []  # no Cancel button on a finished job

        posted = [stored for stored in discord_api.messages.values() if stored.id != STATUS_MESSAGE]
        assert len(posted) == 1
        body = posted[0].body
        assert delivered.result_message_id == posted[0].id
        assert body["nonce"] == f"footage-{delivered.id}" and body["enforce_nonce"] is True
        assert body["allowed_mentions"] == {"parse": [], "users": [USER]}
        assert body["message_reference"]["message_id"] == STATUS_MESSAGE
        assert posted[0].files == [f"{delivered.id}.mp4"]
        assert not any(arrival.path.endswith("/gateway/bot") for arrival in discord_api.arrivals)

        # Taken over mid-delivery: the next worker does not know the message id and posts again.
        assert delivered.result_path is not None
        path = Path(delivered.result_path)
        clip = Clip(path=path, info=await probe_video_async(path), fits=True, source_url=None)
        replay = await DiscordDeliverer(rest.client).deliver(replace(delivered, result_message_id=None), clip)
        assert getattr(replay, "message_id", None) == posted[0].id
        assert [new for _, _, new in discord_api.posts] == [True, False]
    finally:
        await rest.close()


async def test_every_request_is_paced_by_the_process_share(
    harness: CoreHarness, discord_api: DiscordRestStandIn
) -> None:
    budget = DiscordBudget(20, processes=2)  # this process may send 10 a second
    rest = await open_rest(harness, budget)
    try:
        channel = rest.client.get_partial_messageable(CHANNEL)
        await asyncio.gather(*(channel.get_partial_message(9000 + n).edit(content=f"edit {n}") for n in range(25)))
    finally:
        await rest.close()
    assert budget.sent == len(discord_api.arrivals) == 27  # the two login requests, then the edits
    # A cap never sends faster, however slow the machine: at most the rate plus the small burst.
    assert discord_api.most_in_one_second() <= 10 + 2 + 1


async def test_a_global_429_is_obeyed_and_counted(harness: CoreHarness, discord_api: DiscordRestStandIn) -> None:
    budget = DiscordBudget(40)
    rest = await open_rest(harness, budget)
    discord_api.rate_limit_next("PATCH messages", 1, retry_after=0.3, is_global=True)
    try:
        message = rest.client.get_partial_messageable(CHANNEL).get_partial_message(9001)
        await message.edit(content="after the limit")
    finally:
        await rest.close()
    statuses = [arrival.status for arrival in discord_api.arrivals if arrival.method == "PATCH"]
    assert statuses == [429, 200]
    assert budget.rate_limited == 1
    assert budget.rate() < 40  # slowed down, recovering
    retried = [arrival.at for arrival in discord_api.arrivals if arrival.method == "PATCH"]
    assert retried[1] - retried[0] >= 0.3
