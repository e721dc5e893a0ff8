"""What members see is true: positions, refusals of empty prompts, length limits, one error path."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from typing import Any

import discord
import pytest
from discord.ext import commands

from bot.backends.base import BackendError, BackendErrorKind
from bot.discord_glue.limits import CONTENT, LAYOUT_TEXT
from bot.domain.jobs import Job, JobState
from bot.jobs.scheduler import EXACT_POSITIONS
from bot.quotas.service import Member
from bot.settings import Settings
from tests.discord.conftest import BotMaker
from tests.discord.gated import GatedBackend, gated_catalog
from tests.discord.simworld import World, job_id_of, layout_text

# How many jobs wait behind a running one in the edit-count test; the figure for the
# closing note comes from FOOTAGE_TEST_WAITING=500.
WAITING = int(os.environ.get("FOOTAGE_TEST_WAITING", "40"))
INVISIBLE = ["\u200b", "\u200b\u200c\u200d", " \u2060 \ufeff \u3000 ", "\u3164\u2800", "...!?", "\u0301\u0302"]


@pytest.fixture
def simcord_bot(make_bot: BotMaker, gated: GatedBackend, settings: Settings) -> commands.Bot:
    roomy = settings.model_copy(
        update={"default_max_queued": 1000, "default_daily_seconds": 100_000, "default_monthly_seconds": 1_000_000}
    )
    return make_bot(backends={"gated": gated}, catalog=gated_catalog(), settings=roomy)


def status_of(world: World, message_id: int) -> Any:
    return next(m for m in world.channel.history() if m.id == message_id)


def queue_field(world: World, message_id: int) -> str:
    said = layout_text(status_of(world, message_id))
    return said.partition("**Queue**\n")[2].partition("\n")[0]


async def generate(world: World, actor: Any, prompt: str) -> tuple[str, int]:
    result = await actor.slash(world.channel, "generate", prompt=prompt, seconds=2)
    assert result.response is not None and not result.ephemeral, result
    return job_id_of(result.response), result.response.id


# 1. Queue positions never lie


async def test_a_newcomer_ahead_pushes_back_every_shown_position(world: World) -> None:
    await world.admin.slash(world.channel, "footage pause")
    alice = [await generate(world, world.alice, f"alice {n}") for n in range(3)]
    assert [queue_field(world, message)[:10] for _, message in alice] == ["Position 1", "Position 2", "Position 3"]

    await generate(world, world.bob, "bob jumps ahead by fair share")
    await world.env.settle()

    # Bob's one job goes second, so Alice's later jobs really are 3rd and 4th: their messages say so.
    assert [queue_field(world, message).split(" · ")[0] for _, message in alice] == [
        "Position 1",
        "Position 3",
        "Position 4",
    ]
    assert all("paused" in queue_field(world, message) and "ready in" not in queue_field(world, message)
               for _, message in alice)  # fmt: skip


async def test_one_start_edits_only_the_front_of_a_long_queue(world: World, gated: GatedBackend) -> None:
    gated._released = False
    await generate(world, world.bob, "bob holds a slot")
    first, _ = await generate(world, world.alice, "alice runs")
    waiting = [await generate(world, world.alice, f"waiting {n}") for n in range(WAITING)]
    await world.env.settle()
    services = world.bot.footage
    assert services is not None
    assert (await world.job(first)).state is JobState.RUNNING

    before = len([r for r in world.env.http_requests if r.method == "PATCH"])
    await services.core.jobs.cancel(first, Member(world.alice.id), world.guild.id)  # Alice's next job starts
    await world.env.settle()
    patches = [r for r in world.env.http_requests if r.method == "PATCH"][before:]
    waiting_ids = {message for _, message in waiting}
    edited_waiting = {int(r.path.rsplit("/", 1)[1]) for r in patches} & waiting_ids
    print(
        f"\n{WAITING} jobs waiting in one channel: one start cost {len(patches)} message edits, "
        f"{len(edited_waiting)} of them to waiting jobs' messages"
    )
    # The canceled job and the started one change state; of the waiting, only the front
    # (positions shown as numbers, plus the job that crossed into them) can read differently.
    assert len(patches) <= 2 * 2 + EXACT_POSITIONS + 1
    assert (await world.job(waiting[0][0])).state is not JobState.QUEUED
    assert queue_field(world, waiting[1][1]).startswith("Position 1 · ready in about")
    assert queue_field(world, waiting[EXACT_POSITIONS][1]).startswith(f"Position {EXACT_POSITIONS} ·")
    assert queue_field(world, waiting[-1][1]) == f"At least {EXACT_POSITIONS} jobs ahead of this one"


# 3. Invisible prompts are refused


@pytest.mark.parametrize("prompt", INVISIBLE)
async def test_generate_refuses_a_prompt_with_nothing_visible(world: World, prompt: str) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt=prompt, seconds=2)
    assert result.ephemeral and result.response is not None
    assert result.response.content.startswith("⛔") and "nothing visible" in result.response.content
    assert await world.bot.footage.core.jobs.history(world.guild.id, world.alice.id) == []  # type: ignore[union-attr]


async def test_retry_and_remix_refuse_invisible_prompts(world: World) -> None:
    await generate(world, world.alice, "a real prompt")
    clip = world.channel.last_message
    assert clip is not None
    remix = await world.alice.click(clip, label="Remix")
    refused = await world.alice.submit_modal(remix, {"prompt": "\u200b\u2060 \u3000"})
    assert refused.ephemeral and refused.response is not None and "nothing visible" in refused.response.content

    # A job stored before this check existed (prompts are never changed in place): retrying it is refused too.
    services = world.bot.footage
    assert services is not None
    stored = services.core.jobs.get

    async def from_before(job_id: str) -> Job | None:
        job = await stored(job_id)
        return None if job is None else job.evolve(request=replace(job.request, prompt="\u200b \u2060"))

    services.core.jobs.get = from_before  # type: ignore[method-assign]
    retried = await world.alice.click(clip, label="Retry")
    assert retried.ephemeral and retried.response is not None and "nothing visible" in retried.response.content


# 4. Every reply fits Discord's limits


async def test_every_string_option_declares_a_maximum(world: World) -> None:
    missing = []
    for command in world.bot.tree.walk_commands():
        if isinstance(command, discord.app_commands.Command):
            for parameter in command.parameters:
                if parameter.type is discord.AppCommandOptionType.string and parameter.max_value is None:
                    missing.append(f"/{command.qualified_name} {parameter.name}")
    assert missing == []


async def test_an_unknown_model_is_refused_naming_the_choices(world: World) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt="x", model="m" * 100, seconds=2)
    assert result.ephemeral and result.response is not None
    assert (
        result.response.content.startswith("⛔ There is no model") and "Choose one of: gated" in result.response.content
    )
    assert len(result.response.content) <= CONTENT


async def test_long_provider_details_and_lists_are_cut_to_fit(world: World, gated: GatedBackend) -> None:
    gated.failure = BackendError(BackendErrorKind.GENERATION_FAILED, "detail " * 3000)
    job_id, message_id = await generate(world, world.alice, "p " * 450)
    assert (await world.job(job_id)).state is JobState.FAILED
    assert len(layout_text(status_of(world, message_id))) <= LAYOUT_TEXT

    # Twenty tiers with long names make a list longer than one message may be.
    for n in range(20):
        saved = await world.admin.slash(
            world.channel, "footage tier-set", name=f"tier-{n:02d}-" + "x" * 16, daily_seconds=10, monthly_seconds=10
        )
        assert saved.ephemeral
    tiers = await world.admin.slash(world.channel, "footage tiers")
    assert tiers.response is not None and len(tiers.response.content) <= CONTENT
    assert tiers.response.content.endswith("…")


# 5. One error path for every interaction


async def test_button_and_modal_faults_get_a_reference_code(world: World, caplog: pytest.LogCaptureFixture) -> None:
    await generate(world, world.alice, "something to click")
    clip = world.channel.last_message
    assert clip is not None
    services = world.bot.footage
    assert services is not None
    remix = await world.alice.click(clip, label="Remix")

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("database on fire")

    services.core.jobs.get = broken  # type: ignore[method-assign,assignment]
    services.core.jobs.remix = broken  # type: ignore[method-assign,assignment]
    for result in (await world.alice.click(clip, label="Info"), await world.alice.submit_modal(remix, {"prompt": "x"})):
        assert result.ephemeral and result.response is not None
        assert "reference" in result.response.content
        code = result.response.content.split("`")[1]
        assert any(code in record.getMessage() and record.exc_info for record in caplog.records)
    assert not any("Ignoring exception" in record.getMessage() for record in caplog.records)
    world.env.errors  # acknowledge the faults SimCord captured  # noqa: B018


async def test_admins_may_delete_like_moderators(world: World) -> None:
    await generate(world, world.alice, "an admin tidies up")
    clip = world.channel.last_message
    assert clip is not None
    admin_only = world.guild.create_role("Server admins", permissions=discord.Permissions(manage_guild=True))
    chief = world.guild.add_member(world.env.create_user("chief"), roles=[admin_only])
    deleted = await chief.click(clip, label="Delete")
    assert deleted.ephemeral and deleted.response is not None and "Deleted" in deleted.response.content


# 6. Small truths


async def test_job_autocomplete_lists_recent_jobs_at_once_and_matches_ids_and_words(world: World) -> None:
    fox, _ = await generate(world, world.alice, "a red fox in snow")
    owl, _ = await generate(world, world.alice, "an owl at dusk")
    at_once = await world.alice.autocomplete(world.channel, "show", "job", "")
    assert [choice["value"] for choice in at_once] == [owl, fox]  # newest first, before anything is typed
    by_id = await world.alice.autocomplete(world.channel, "show", "job", fox.lower())
    assert [choice["value"] for choice in by_id] == [fox]
    by_words = await world.alice.autocomplete(world.channel, "show", "job", "RED sno")
    assert [choice["value"] for choice in by_words] == [fox]
    assert await world.bob.autocomplete(world.channel, "show", "job", "") == []
    shown = await world.alice.slash(world.channel, "show", job=fox)
    assert shown.response is not None or shown.followups


async def test_info_names_the_requester(world: World) -> None:
    await generate(world, world.alice, "who asked")
    clip = world.channel.last_message
    assert clip is not None
    info = await world.bob.click(clip, label="Info")
    assert info.response is not None
    fields = {field.name: field.value for field in info.response.embeds[0].fields}
    assert fields["Requested by"] == "alice"


async def test_each_job_end_is_one_log_line(
    world: World, gated: GatedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    delivered, _ = await generate(world, world.alice, "ends well")
    gated.failure = BackendError(BackendErrorKind.CONTENT_POLICY, "flagged by the provider")
    failed, _ = await generate(world, world.alice, "ends badly")
    ends = [record for record in caplog.records if record.name == "bot.jobs.job_log"]
    assert [record.levelno for record in ends] == [logging.INFO, logging.WARNING]
    assert re.fullmatch(rf"job {delivered} delivered after [\d.]+ s \(gated, 2 s\)", ends[0].getMessage())
    assert re.fullmatch(
        rf"job {failed} failed \(content_policy: flagged by the provider\) after [\d.]+ s \(gated, 2 s\)",
        ends[1].getMessage(),
    )
    by_job = [record for record in caplog.records if failed in record.getMessage() and record.levelno >= logging.INFO]
    assert by_job == [ends[1]]  # one line for the failure, not one per layer
