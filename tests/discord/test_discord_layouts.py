"""Status and clip messages as Components V2 layouts, including messages an earlier version posted as embeds."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.ext import commands

from bot.discord_glue.card import Card, Tone
from bot.discord_glue.layout import card_layout
from bot.discord_glue.limits import LAYOUT_TEXT, fit_message
from bot.domain.jobs import JobState
from bot.jobs.facts import Fact
from tests.discord.gated import GatedBackend, gated_catalog
from tests.discord.simworld import World, button_labels, gallery_urls, job_id_of, layout_text


@pytest.fixture
def simcord_bot(gated_bot: commands.Bot) -> commands.Bot:
    return gated_bot


def message(world: World, message_id: int) -> Any:
    return next(m for m in world.channel.history() if m.id == message_id)


async def test_waiting_and_running_cards_show_what_is_known(world: World, gated: GatedBackend) -> None:
    gated._released = False
    running = await world.alice.slash(world.channel, "generate", prompt="a kite over dunes", seconds=2, seed=7)
    waiting = await world.alice.slash(world.channel, "generate", prompt="a second kite", seconds=4)
    assert running.response is not None and waiting.response is not None
    await world.env.settle()

    shown = message(world, running.response.id)
    assert shown.flags.components_v2 and not shown.content and not shown.embeds
    said = layout_text(shown)
    assert "### 🎬 Generating" in said and "> a kite over dunes" in said
    assert "**Model** gated · **Length** 2 s · 16:9 · **Sound** no sound · **Seed** 7 · **Asked** <t:" in said
    assert "**Progress**\n`" in said and "50%" in said
    assert button_labels(shown) == ["Cancel"]

    queued = layout_text(message(world, waiting.response.id))
    assert "### ⏳ Waiting in the queue" in queued and "**Length** 4 s" in queued
    assert "**Queue**\nPosition 1 · ready in about " in queued

    gated.release()
    job = await world.finished(job_id_of(running.response))
    assert job.state is JobState.DELIVERED
    posted = message(world, job.result_message_id or 0)
    assert gallery_urls(posted) == [posted.attachments[0].url]
    # The clip's own sound track is known once it is made (the test clip has none).
    assert "**Sound** no sound · **Seed** 7" in layout_text(posted)

    shown = await world.bob.slash(world.channel, "show", job=job.id)
    again = shown.followups[0] if shown.deferred else shown.response
    assert again is not None and again.attachments
    assert gallery_urls(again) == [again.attachments[0].url] and "### ✅ Done" in layout_text(again)
    assert button_labels(again) == ["Retry", "Remix", "Delete", "Info"]


async def test_a_job_running_across_the_upgrade_turns_its_embed_status_into_a_layout(
    world: World, gated: GatedBackend, make_bot: Any
) -> None:
    gated._released = False
    result = await world.alice.slash(world.channel, "generate", prompt="an old lantern", seconds=2)
    assert result.response is not None
    job_id = job_id_of(result.response)
    services = world.bot.footage
    assert services is not None
    # What the earlier version left behind: its status message as an embed with a Cancel row,
    # and the job in the database pointing at that message.
    old = discord.Embed(title="🎬 Generating", description="an old lantern")
    old.add_field(name="Model", value="gated").add_field(name="Progress", value="Started", inline=False)
    old.set_footer(text=f"Job {job_id}")
    buttons = discord.ui.View(timeout=None)
    buttons.add_item(discord.ui.Button(label="Cancel", custom_id=f"footage:cancel:{job_id}"))
    channel = world.bot.get_partial_messageable(world.channel.id, guild_id=world.guild.id)
    embed_status = await channel.send(embed=old, view=buttons, allowed_mentions=discord.AllowedMentions.none())
    await channel.get_partial_message(result.response.id).delete()
    await services.core.jobs.attach_status(job_id, world.channel.id, embed_status.id)
    await world.env.settle()
    assert message(world, embed_status.id).embeds[0].title == "🎬 Generating"

    await world.env.restart_bot(make_bot(backends={"gated": gated}, catalog=gated_catalog()))
    # The old message's button still reaches the job (its custom id is unchanged).
    denied = await world.bob.click(message(world, embed_status.id), label="Cancel")
    assert denied.ephemeral and (await world.job(job_id)).state is JobState.RUNNING
    gated.release()
    job = await world.finished(job_id)

    assert job.state is JobState.DELIVERED and job.status_message_id == embed_status.id
    upgraded = message(world, embed_status.id)
    assert upgraded.flags.components_v2 and not upgraded.embeds and not upgraded.content
    said = layout_text(upgraded)
    assert "### ✅ Done" in said and "Jump to the clip" in said and f"-# Job {job_id}" in said
    assert button_labels(upgraded) == []
    clips = [m for m in world.channel.history() if m.attachments]
    assert [m.id for m in clips] == [job.result_message_id]
    posts = [
        r for r in world.env.http_requests if r.method == "POST" and (r.json or {}).get("nonce") == f"footage-{job_id}"
    ]
    assert len(posts) == 1


def test_a_layout_is_cut_to_discords_text_limit_keeping_its_short_parts() -> None:
    card = Card(
        tone=Tone.FAILED,
        title="❌ Failed",
        prompt="p " * 1500,
        facts=(Fact("Model", "gated"),),
        notes=(Fact("What happened", "detail " * 600),),
        footer="Job ABCD2345",
    )
    view = fit_message(view=card_layout(card))["view"]
    assert isinstance(view, discord.ui.LayoutView)
    assert view.content_length() <= LAYOUT_TEXT
    texts = [item.content for item in view.walk_children() if isinstance(item, discord.ui.TextDisplay)]
    assert texts[0] == "### ❌ Failed" and texts[-1] == "-# Job ABCD2345" and "**Model** gated" in texts
