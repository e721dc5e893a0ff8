"""Scenarios that need to hold a job mid-flight: a provider stand-in the test releases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import simcord.interactions
from discord.ext import commands

from bot.backends.base import BackendError, BackendErrorKind
from bot.domain.jobs import ClipStep, FailureReason, JobState
from bot.media.probe import probe_video
from tests.discord.gated import GatedBackend, gated_catalog
from tests.discord.simworld import World, button_labels, gallery_urls, job_id_of, layout_text, write_clip


@pytest.fixture
def simcord_bot(gated_bot: commands.Bot) -> commands.Bot:
    return gated_bot


def status_edits(world: World, message_id: int) -> list[Any]:
    return [r for r in world.env.http_requests if r.method == "PATCH" and r.path.endswith(f"/messages/{message_id}")]


def status_of(world: World, message_id: int) -> Any:
    return next(m for m in world.channel.history() if m.id == message_id)


async def generate(world: World, actor: Any, prompt: str) -> str:
    result = await actor.slash(world.channel, "generate", prompt=prompt, seconds=2)
    assert result.response is not None and not result.ephemeral, result
    return job_id_of(result.response)


async def test_the_sound_choice_is_not_offered_on_a_model_that_cannot_switch_it(world: World) -> None:
    assert await world.alice.autocomplete(world.channel, "generate", "audio", "") == []
    refused = await world.alice.slash(world.channel, "generate", prompt="surf", seconds=2, audio="on")
    assert refused.ephemeral and refused.response is not None
    assert "makes clips without sound" in refused.response.content


async def test_fair_share_shows_in_queue_positions(world: World) -> None:
    await world.admin.slash(world.channel, "footage pause")
    alice_jobs = [await generate(world, world.alice, f"alice {n}") for n in range(3)]
    bob_job = await generate(world, world.bob, "bob 0")

    services = world.bot.footage
    assert services is not None
    places = {job_id: services.core.jobs.place(await world.job(job_id)) for job_id in [*alice_jobs, bob_job]}
    # Bob's one job goes before Alice's second and third, not after all three.
    assert places[bob_job] is not None and places[alice_jobs[2]] is not None
    assert places[bob_job].position < places[alice_jobs[1]].position < places[alice_jobs[2]].position  # type: ignore[union-attr]
    queue = await world.admin.slash(world.channel, "queue")
    assert queue.response is not None
    listing = queue.response.embeds[0].description or ""
    assert f"`{bob_job}` queued · gated 2 s · Position 2 · the queue is paused here" in listing
    # In queue order, not grouped by member, and with names rather than ids.
    listed = [line.split("`")[1] for line in listing.splitlines() if line.startswith("`")]
    assert listed == [alice_jobs[0], bob_job, alice_jobs[1], alice_jobs[2]]
    assert "· bob" in listing and "<@" not in listing


async def test_cancel_while_queued_releases_the_quota(world: World) -> None:
    await world.admin.slash(world.channel, "footage pause")
    job_id = await generate(world, world.alice, "a paused wait")
    choices = await world.alice.autocomplete(world.channel, "cancel", "job", "")
    assert [choice["value"] for choice in choices] == [job_id]
    assert await world.bob.autocomplete(world.channel, "cancel", "job", "") == []

    result = await world.alice.slash(world.channel, "cancel", job=job_id)

    assert result.ephemeral
    job = await world.job(job_id)
    assert job.state is JobState.CANCELED
    assert "### 🚫 Canceled" in layout_text(status_of(world, job.status_message_id or 0))
    quota = await world.alice.slash(world.channel, "quota")
    assert quota.response is not None and "0 / 20 s" in (quota.response.embeds[0].fields[0].value or "")


async def test_cancel_button_while_running_stops_the_provider_job(world: World, gated: GatedBackend) -> None:
    gated._released = False
    result = await world.alice.slash(world.channel, "generate", prompt="long render", seconds=2)
    assert result.response is not None
    job_id = job_id_of(result.response)
    assert (await world.job(job_id)).state is JobState.RUNNING

    denied = await world.bob.click(status_of(world, result.response.id), label="Cancel")
    assert denied.ephemeral and (await world.job(job_id)).state is JobState.RUNNING
    canceled = await world.alice.click(status_of(world, result.response.id), label="Cancel")

    assert canceled.ephemeral
    assert (await world.job(job_id)).state is JobState.CANCELED
    assert gated.canceled == [f"g-{job_id}"]


async def test_restart_mid_job_resumes_polling_and_posts_once(world: World, gated: GatedBackend, make_bot: Any) -> None:
    gated._released = False
    job_id = await generate(world, world.alice, "survives a restart")
    assert (await world.job(job_id)).state is JobState.RUNNING

    await world.env.restart_bot(make_bot(backends={"gated": gated}, catalog=gated_catalog()))
    gated.release()
    await world.env.settle()

    job = await world.job(job_id)
    assert job.state is JobState.DELIVERED
    assert gated.submits == [job_id]  # polled again, never resubmitted
    clips = [m for m in world.channel.history() if m.attachments]
    assert [m.id for m in clips] == [job.result_message_id]
    # Buttons made before another restart still answer.
    await world.env.restart_bot(make_bot(backends={"gated": gated}, catalog=gated_catalog()))
    info = await world.bob.click(clips[0], label="Info")
    assert info.ephemeral and info.response is not None


async def test_failed_job_says_why_and_refunds(world: World, gated: GatedBackend) -> None:
    gated.failure = BackendError(BackendErrorKind.CONTENT_POLICY, "flagged")
    job_id = await generate(world, world.alice, "something the provider refuses")

    job = await world.job(job_id)
    assert job.state is JobState.FAILED and job.failure is FailureReason.CONTENT_POLICY
    said = layout_text(status_of(world, job.status_message_id or 0))
    assert "### ❌ Failed" in said
    assert f"**What happened**\n{FailureReason.CONTENT_POLICY.plain}" in said
    quota = await world.alice.slash(world.channel, "quota")
    assert quota.response is not None and "0 / 20 s" in (quota.response.embeds[0].fields[0].value or "")


SMALL_UPLOAD_LIMIT = 150_000


def limit_uploads(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """Interactions carry `limit` as the upload limit, as Discord would send it for a guild."""
    original = simcord.interactions.base_payload

    def smaller_limit(*args: Any, **kwargs: Any) -> Any:
        record, payload = original(*args, **kwargs)
        payload["attachment_size_limit"] = limit
        return record, payload

    monkeypatch.setattr(simcord.interactions, "base_payload", smaller_limit)


@pytest.fixture
def small_upload_limit(gated: GatedBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Interactions carry a 150 kB upload limit, and the gated backend returns a noisy clip over it."""
    gated.clip = write_clip(tmp_path / "noise.mp4", size=(256, 144), frames=24, noise=True)
    assert gated.clip.stat().st_size > SMALL_UPLOAD_LIMIT
    limit_uploads(monkeypatch, SMALL_UPLOAD_LIMIT)
    return SMALL_UPLOAD_LIMIT


async def test_a_clip_that_cannot_fit_is_linked_in_its_card_instead_of_shown(
    world: World, gated: GatedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated.source_url = "https://video.example/clips/one.mp4"
    limit_uploads(monkeypatch, 2_000)  # far below any clip the encoder could make
    job_id = await generate(world, world.alice, "too big to attach")

    job = await world.finished(job_id)
    assert job.state is JobState.DELIVERED
    posted = world.channel.last_message
    assert posted is not None and posted.id == job.result_message_id and not posted.attachments
    assert gallery_urls(posted) == []
    said = layout_text(posted)
    assert "over the upload limit here" in said and gated.source_url in said
    assert button_labels(posted) == ["Retry", "Remix", "Delete", "Info"]


async def test_over_limit_clip_is_reencoded_under_the_interaction_limit(
    world: World, small_upload_limit: int, tmp_path: Path
) -> None:
    job_id = await generate(world, world.alice, "noisy")

    job = await world.finished(job_id)
    assert job.origin.upload_limit == small_upload_limit and job.state is JobState.DELIVERED
    clip = world.channel.last_message
    assert clip is not None and clip.attachments
    assert clip.attachments[0].size <= small_upload_limit
    data = world.env.backend.cdn.get(clip.attachments[0].url)
    assert data is not None
    (tmp_path / "posted.mp4").write_bytes(data)
    assert probe_video(tmp_path / "posted.mp4").duration > 2.5


async def test_a_clip_waiting_for_a_reencode_slot_says_so(world: World, small_upload_limit: int) -> None:
    services = world.bot.footage
    assert services is not None
    async with services.core.encode_slots.slot():  # the only slot, busy with another clip
        job_id = await generate(world, world.alice, "noisy")
        await world.env.settle()
        job = await world.job(job_id)
        assert job.state is JobState.FETCHING
        said = layout_text(status_of(world, job.status_message_id or 0))
        assert f"**Progress**\n{ClipStep.WAITING_FOR_ENCODER.plain}" in said
        # The step is kept in memory alone (the store says running); /show reads it from there.
        stored = await services.core.store.read(lambda tx: tx.get_job(job_id))
        assert stored is not None and stored.state is JobState.RUNNING
        shown = await world.alice.slash(world.channel, "show", job=job_id)
        assert shown.response is not None
        assert ClipStep.WAITING_FOR_ENCODER.plain in layout_text(shown.response)

    job = await world.finished(job_id)
    assert job.state is JobState.DELIVERED
    assert ClipStep.WAITING_FOR_ENCODER.plain not in layout_text(status_of(world, job.status_message_id or 0))


@pytest.mark.simcord(settle_timeout=1.0)
async def test_status_edits_are_throttled_and_coalesced(world: World, gated: GatedBackend, make_bot: Any) -> None:
    gated._released = False
    gated.progress = tuple(step / 10 for step in range(1, 10))
    services = world.bot.footage
    assert services is not None
    services.updater._interval = 2.0  # the production interval

    result = await world.alice.slash(world.channel, "generate", prompt="burst", seconds=2)
    assert result.response is not None
    first = status_edits(world, result.response.id)
    # Nine progress reports and several state changes so far, at most one edit per 2 s.
    assert len(first) == 1

    await world.env.advance_time(2)
    second = status_edits(world, result.response.id)
    assert len(second) == 2
    assert "90%" in str(second[-1].json)


async def test_edits_keep_working_after_the_interaction_token_expires(world: World, gated: GatedBackend) -> None:
    gated._released = False
    job_id = await generate(world, world.alice, "slow one")
    await world.env.advance_time(16 * 60)
    gated.release()
    await world.env.settle()

    job = await world.job(job_id)
    assert job.state is JobState.DELIVERED
    webhook_calls = [r for r in world.env.http_requests if r.path.startswith("/webhooks/")]
    assert webhook_calls == []
    assert "### ✅ Done" in layout_text(status_of(world, job.status_message_id or 0))


async def test_the_answer_never_waits_for_the_backend(world: World, gated: GatedBackend) -> None:
    gated._released = False
    gated.progress = ()
    result = await world.alice.slash(world.channel, "generate", prompt="answer first", seconds=2)

    assert result.response is not None
    answer = next(r for r in world.env.http_requests if r.path.endswith("/callback"))
    assert "### ⏳ Waiting in the queue" in layout_text(answer.json["data"]["components"])
    job = await world.job(job_id_of(result.response))
    assert job.state is JobState.RUNNING  # the provider still holds it; the user already has the answer
