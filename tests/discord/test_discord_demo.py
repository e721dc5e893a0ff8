"""End to end with the demo backend: /generate to a posted clip, commands, buttons, admin."""

from __future__ import annotations

import io
from typing import Any

import discord
import pytest
from PIL import Image

from bot.domain.jobs import FailureReason, JobState
from tests.discord.simworld import World, button_labels, gallery_urls, job_id_of, layout_text


def message_requests(world: World, method: str) -> list[Any]:
    return [r for r in world.env.http_requests if r.method == method and r.path.endswith("/messages")]


async def test_generate_answers_with_status_and_posts_the_clip_as_a_reply(world: World) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt="a lighthouse in fog", seconds=2)

    assert result.response is not None and not result.ephemeral
    job_id = job_id_of(result.response)
    job = await world.job(job_id)
    assert job.state is JobState.DELIVERED
    assert job.status_message_id == result.response.id
    posted = world.channel.last_message
    assert posted is not None and posted.id == job.result_message_id
    assert posted.reference is not None and posted.reference.message_id == result.response.id
    assert posted.attachments and posted.attachments[0].filename == f"{job_id}.mp4"
    # The clip post is a layout: the clip plays inside the card, above its buttons.
    assert posted.flags.components_v2 and not posted.content and not posted.embeds
    assert gallery_urls(posted) == [posted.attachments[0].url]
    said = layout_text(posted)
    assert job_id_of(posted) == job_id and "> a lighthouse in fog" in said
    assert f"**Seed** {job.request.seed}" in said and "**Model** demo · **Length** 2 s · 16:9" in said
    assert said.count("no sound") == 1  # the demo model makes no sound unless its catalog says so
    assert button_labels(posted) == ["Retry", "Remix", "Delete", "Info"]
    # The status message was edited through the channel, and now says Done without a Cancel button.
    status = next(m for m in world.channel.history() if m.id == result.response.id)
    assert "### ✅ Done" in layout_text(status)
    assert "**Sound** no sound" in layout_text(status)  # what the model makes, known before the clip is
    assert button_labels(status) == []
    edits = [r for r in world.env.http_requests if r.method == "PATCH"]
    assert edits and all(r.path.startswith("/channels/") for r in edits)


async def test_prompts_with_mentions_ping_nobody_but_the_requester(world: World) -> None:
    role = world.guild.create_role("Everyone-ish", mentionable=True)
    prompt = f"@everyone {role.mention} <@{world.bob.id}> dancing robots"

    result = await world.alice.slash(world.channel, "generate", prompt=prompt, seconds=2)

    assert result.response is not None
    posts = message_requests(world, "POST")
    assert posts, "the clip was not posted"
    mentions = posts[-1].json["allowed_mentions"]
    assert mentions["parse"] == [] and [int(user) for user in mentions["users"]] == [world.alice.id]
    assert mentions.get("roles", []) == [] and not mentions.get("replied_user", False)
    clip = world.channel.last_message
    assert clip is not None and not clip.mention_everyone
    stored = world.env.backend.get_message(world.channel.id, clip.id)
    assert stored.ping_role_ids == [] and stored.ping_user_ids == [world.alice.id]
    status_call = next(r for r in world.env.http_requests if r.path.endswith("/callback"))
    assert status_call.json["data"]["allowed_mentions"]["parse"] == []
    # Both cards echo the prompt's mentions as text; only the clip post pings, and only the requester.
    status = world.env.backend.get_message(world.channel.id, result.response.id)
    assert status.ping_user_ids == [] and status.ping_role_ids == [] and not status.mention_everyone
    for card in (result.response, clip):
        assert f"@everyone {role.mention} <@{world.bob.id}> dancing robots" in layout_text(card)


async def test_autocomplete_offers_models_and_what_the_model_allows(world: World) -> None:
    models = await world.alice.autocomplete(world.channel, "generate", "model", "")
    assert [choice["value"] for choice in models] == ["demo"]
    seconds = await world.alice.autocomplete(world.channel, "generate", "seconds", "", model="demo")
    assert [choice["value"] for choice in seconds] == [2, 4, 6, 8, 10]
    aspects = await world.alice.autocomplete(world.channel, "generate", "aspect", "9", model="demo")
    assert [choice["value"] for choice in aspects] == ["9:16"]


async def test_sound_is_offered_chosen_and_said_where_the_model_can_switch_it(world: World) -> None:
    offered = await world.alice.autocomplete(world.channel, "generate", "audio", "", model="demo")
    assert [choice["value"] for choice in offered] == ["on", "off"]

    result = await world.alice.slash(world.channel, "generate", prompt="surf at dusk", seconds=2, audio="on")

    assert result.response is not None
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.DELIVERED and job.request.audio is True
    posted = world.channel.last_message
    assert posted is not None and "**Sound** with sound" in layout_text(posted)  # the delivered clip has a track
    status = next(m for m in world.channel.history() if m.id == result.response.id)
    assert "**Length** 2 s · 16:9 · **Sound** with sound" in layout_text(status)
    info = await world.bob.click(posted, label="Info")
    assert info.response is not None and "with sound" in str(info.response.embeds[0].to_dict())
    wrong = await world.alice.slash(world.channel, "generate", prompt="surf", seconds=2, audio="loud")
    assert wrong.ephemeral and wrong.response is not None and "on or off" in wrong.response.content


async def test_quota_refusal_is_ephemeral_and_says_what_to_do(world: World) -> None:
    result = await world.alice.slash(world.channel, "generate", prompt="too long", seconds=10)

    assert result.ephemeral and result.response is not None
    assert result.response.content.startswith("⛔")
    assert "8" in result.response.content  # the tier's longest clip
    assert message_requests(world, "POST") == []


@pytest.mark.parametrize(
    ("filename", "data", "problem"),
    [("notes.txt", b"hello", "PNG, JPEG or WebP"), ("huge.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20_000, "limit")],
)
async def test_start_image_type_and_size_are_checked(
    world: World, filename: str, data: bytes, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = world.bot.footage
    assert services is not None
    monkeypatch.setattr(services.settings, "image_max_bytes", 10_000)
    result = await world.alice.slash(world.channel, "generate", prompt="from a picture", image=(filename, data))
    assert result.ephemeral and result.response is not None
    assert problem in result.response.content


async def test_quota_history_show_and_info(world: World) -> None:
    first = await world.alice.slash(world.channel, "generate", prompt="waves on basalt", seconds=2)
    assert first.response is not None
    job_id = job_id_of(first.response)

    quota = await world.alice.slash(world.channel, "quota")
    assert quota.ephemeral and quota.response is not None
    fields = {field.name: field.value for field in quota.response.embeds[0].fields}
    assert "2 / 20 s" in (fields["Today"] or "") and "18 s left" in (fields["Today"] or "")

    history = await world.alice.slash(world.channel, "history")
    assert history.ephemeral and history.response is not None
    assert job_id in (history.response.embeds[0].description or "")

    shown = await world.bob.slash(world.channel, "show", job=job_id.lower())
    # The clip again if it is still on disk, else its status with a link to the posted clip.
    again = shown.followups[0] if shown.deferred else shown.response
    assert again is not None and not again.ephemeral
    assert again.attachments or "Jump to the clip" in layout_text(again)

    info = await world.bob.click(world.channel.last_message, label="Info")
    assert info.ephemeral and info.response is not None
    assert info.response.embeds[0].title == f"Job {job_id}"

    missing = await world.alice.slash(world.channel, "show", job="ZZZZZZZZ")
    assert missing.ephemeral and missing.response is not None and "no job" in missing.response.content


async def test_retry_makes_one_new_job_and_delete_is_for_the_requester(world: World) -> None:
    await world.alice.slash(world.channel, "generate", prompt="city lights", seconds=2)
    clip = world.channel.last_message
    assert clip is not None

    denied = await world.bob.click(clip, label="Delete")
    assert (
        denied.ephemeral
        and denied.response is not None
        and "only its requester or a moderator" in denied.response.content
    )

    retried = await world.alice.click(clip, label="Retry")
    assert retried.response is not None and not retried.ephemeral
    new_id = job_id_of(retried.response)
    new_job = await world.job(new_id)
    assert new_job.parent_id is not None and new_job.state is JobState.DELIVERED

    remix = await world.alice.click(clip, label="Remix")
    assert remix.modal is not None
    assert "city lights" in str(remix.modal)
    submitted = await world.alice.submit_modal(remix, {"prompt": "city lights in the rain"})
    assert submitted.response is not None
    remixed = await world.job(job_id_of(submitted.response))
    assert remixed.request.prompt == "city lights in the rain"

    deleted = await world.mod.click(clip, label="Delete")
    assert deleted.ephemeral
    assert clip.id not in [m.id for m in world.channel.history()]


async def test_admin_group_is_enforced_by_a_manage_server_check(world: World) -> None:
    command = next(c for c in await world.bot.tree.fetch_commands() if c.name == "footage")
    # The hint can be overridden by admins; the check still refuses.
    world.guild.set_command_permissions(command, {world.alice: True})
    refused = await world.alice.slash(world.channel, "footage pause")
    assert refused.ephemeral and refused.response is not None
    assert "Manage Server" in refused.response.content
    world.env.errors  # acknowledge the check failure SimCord captured  # noqa: B018

    added = await world.admin.slash(world.channel, "footage block-add", pattern="volcano")
    assert added.ephemeral
    blocked = await world.alice.slash(world.channel, "generate", prompt="A Volcano erupting", seconds=2)
    assert blocked.ephemeral and blocked.response is not None and blocked.response.content.startswith("⛔")

    tier = await world.admin.slash(
        world.channel, "footage tier-set", name="pro", daily_seconds=300, monthly_seconds=3000, max_clip_seconds=10
    )
    assert tier.response is not None and "pro" in tier.response.content
    pros = world.guild.create_role("Pros")
    role = await world.admin.slash(world.channel, "footage role-tier", role=pros, tier="pro")
    assert role.response is not None and "pro" in role.response.content
    tiers = await world.admin.slash(world.channel, "footage tiers")
    assert tiers.response is not None and "**pro**: 300 s/day" in tiers.response.content

    await world.alice.slash(world.channel, "generate", prompt="harbour", seconds=2)
    usage = await world.admin.slash(world.channel, "footage usage")
    # The report replaces the deferred "thinking" answer.
    report = usage.response
    assert report is not None and report.ephemeral
    assert "alice · demo: 2 s" in report.content  # the member's name, not a raw mention
    assert report.attachments[0].filename == "usage.png"
    png = world.env.backend.cdn.get(report.attachments[0].url)
    assert png is not None and png.startswith(b"\x89PNG")


async def test_lost_permission_sends_the_clip_by_dm(world: World) -> None:
    world.env.inject_error("POST", f"/channels/{world.channel.id}/messages", status=403, code=50013, times=None)

    result = await world.alice.slash(world.channel, "generate", prompt="quiet forest", seconds=2)

    assert result.response is not None
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.DELIVERED
    dm = world.alice.user.dm_channel.last_message
    assert dm is not None and dm.id == job.result_message_id and dm.attachments
    # The clip plays in its card; buttons need the server, so the DM has none.
    assert gallery_urls(dm) == [dm.attachments[0].url] and button_labels(dm) == []
    # The status message in the channel says where the clip went, and links the DM itself.
    dm_link = f"https://discord.com/channels/@me/{dm.channel.id}/{dm.id}"
    status = next(m for m in world.channel.history() if m.id == result.response.id)
    for shown in (status, (await world.alice.slash(world.channel, "show", job=job.id)).response):
        clip = layout_text(shown).partition("**Clip**\n")[2]
        assert "by direct message" in clip and dm_link in clip and "Jump to the clip" not in clip
    history = await world.alice.slash(world.channel, "history")
    assert history.response is not None and dm_link in (history.response.embeds[0].description or "")


async def test_a_discord_5xx_on_post_is_retried_and_posts_once(world: World) -> None:
    world.env.inject_error("POST", f"/channels/{world.channel.id}/messages", status=500, times=1)

    result = await world.alice.slash(world.channel, "generate", prompt="snowy pass", seconds=2)

    assert result.response is not None
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.DELIVERED
    posts = message_requests(world, "POST")
    assert len(posts) == 2 and posts[0].json["nonce"] == posts[1].json["nonce"] == f"footage-{job.id}"
    assert posts[0].json["enforce_nonce"] is True
    clips = [m for m in world.channel.history() if m.attachments]
    assert len(clips) == 1


async def test_deleted_channel_marks_the_job_undeliverable(world: World) -> None:
    world.env.inject_error("POST", f"/channels/{world.channel.id}/messages", status=404, code=10003, times=None)
    world.env.inject_error("PATCH", f"/channels/{world.channel.id}/messages/*", status=404, code=10003, times=None)

    result = await world.alice.slash(world.channel, "generate", prompt="gone", seconds=2)

    assert result.response is not None
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.FAILED and job.failure is not None and job.failure.value == "undeliverable"


async def test_unexpected_errors_get_a_reference_code(world: World, caplog: pytest.LogCaptureFixture) -> None:
    services = world.bot.footage
    assert services is not None

    async def broken(*_: object) -> None:
        raise RuntimeError("database on fire")

    services.core.jobs.history = broken  # type: ignore[method-assign]
    result = await world.alice.slash(world.channel, "history")
    assert result.ephemeral and result.response is not None
    code = result.response.content.split("`")[1]
    assert any(code in record.getMessage() and record.exc_info for record in caplog.records)
    assert isinstance(world.env.errors[-1], discord.app_commands.CommandInvokeError)


async def test_only_the_bot_owner_pauses_every_server(world: World) -> None:
    refused = await world.admin.slash(world.channel, "footage pause-everywhere", paused=True)
    assert refused.response is not None and "Only the bot's owner" in refused.response.content
    world.bot.owner_id = world.admin.id
    paused = await world.admin.slash(world.channel, "footage pause-everywhere", paused=True)
    assert paused.response is not None and "No new job starts in any server" in paused.response.content
    assert world.bot.footage is not None and world.bot.footage.core.runner.paused
    resumed = await world.admin.slash(world.channel, "footage pause-everywhere", paused=False)
    assert resumed.response is not None and "runs again" in resumed.response.content
    assert not world.bot.footage.core.runner.paused


def png_bytes(size: tuple[int, int] = (64, 36)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_an_attached_start_image_is_fetched_and_animated(world: World) -> None:
    result = await world.alice.slash(
        world.channel, "generate", prompt="animate this", seconds=2, image=("start.png", png_bytes())
    )

    assert result.response is not None and not result.ephemeral
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.DELIVERED, job.failure_detail
    assert job.request.image_url is not None


async def test_an_attachment_the_bot_cannot_fetch_is_worded_as_such(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(world.env.backend.cdn, "get", lambda url: None)  # the upload is gone from the CDN
    result = await world.alice.slash(
        world.channel, "generate", prompt="animate this", seconds=2, image=("start.png", png_bytes())
    )

    assert result.response is not None
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.FAILED and job.failure is FailureReason.INPUT_IMAGE_UNAVAILABLE
    status = next(m for m in world.channel.history() if m.id == result.response.id)
    text = layout_text(status)
    assert "could not fetch the start image" in text
    assert "refused" not in text
