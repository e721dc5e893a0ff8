"""Posts finished clips: a reply to the status message, pinging only the requester.

The post is a Components V2 layout with the clip in a media gallery (the file is
attached to the same message and referenced as `attachment://<name>`).

Idempotent: a job that already has a result message is not posted again, and
every post carries a nonce derived from the job id that Discord enforces, so a
retry after a crash or a 5xx cannot make a second message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from bot.discord_glue import text
from bot.discord_glue.buttons import result_buttons
from bot.discord_glue.card import Card, Tone
from bot.discord_glue.layout import card_layout
from bot.discord_glue.limits import fit_message
from bot.discord_glue.status_card import job_footer
from bot.domain.jobs import FailureReason, Job
from bot.jobs.delivery import Clip, Delivered, DeliveryOutcome, Undeliverable
from bot.jobs.facts import Fact, request_facts

log = logging.getLogger(__name__)

# Discord error codes that decide what happens next.
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
UNKNOWN_CHANNEL = 10003
PROMPT_LIMIT = 1200
SEND_ATTEMPTS = 3


def nonce_for(job: Job) -> str:
    """Stable per job (Discord allows 25 characters), so a resend is dropped as a duplicate."""
    return f"footage-{job.id}"


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def result_card(job: Job, clip: Clip, *, link: str | None, file_name: str | None) -> Card:
    """The clip post: the requester's mention, the prompt, what was made, and the clip itself (or its link)."""
    notes: tuple[Fact, ...] = ()
    if link is not None:
        notes = (
            Fact(
                "Clip",
                f"The clip is {megabytes(clip.info.size_bytes)}, over the upload limit here "
                f"({megabytes(job.origin.upload_limit)}), so here is the video service's link: {link}",
            ),
        )
    return Card(
        tone=Tone.DONE,
        lead=f"<@{job.user_id}> your clip is ready",
        prompt=text.shorten(job.request.prompt, PROMPT_LIMIT),
        facts=request_facts(job.request, clip.info.has_audio),
        notes=notes,
        footer=job_footer(job),
        clip_file=file_name,
    )


def only_requester(job: Job) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.user_id)], replied_user=False)


class DiscordDeliverer:
    def __init__(self, client: discord.Client, *, retry_delay: float = 1.0) -> None:
        self._client = client
        self._retry_delay = retry_delay

    async def deliver(self, job: Job, clip: Clip) -> DeliveryOutcome:
        if job.result_message_id is not None:
            return Delivered(job.result_message_id, linked_only=not clip.fits, dm_channel_id=job.result_dm_channel_id)
        if not clip.fits and clip.source_url is None:
            return Undeliverable(
                FailureReason.COULD_NOT_DELIVER,
                f"The clip is {megabytes(clip.info.size_bytes)} even after re-encoding, over the upload "
                f"limit here ({megabytes(job.origin.upload_limit)}), and the service gave no link.",
            )
        link = None if clip.fits else clip.source_url
        channel = self._client.get_partial_messageable(job.origin.channel_id, guild_id=job.guild_id)
        reference = None
        if job.status_message_id is not None:
            reference = discord.MessageReference(
                message_id=job.status_message_id, channel_id=job.origin.channel_id, fail_if_not_exists=False
            )
        try:
            message = await self._send(channel, job, clip, link=link, reference=reference, buttons=True)
        except discord.Forbidden as error:
            if error.code not in (MISSING_PERMISSIONS, MISSING_ACCESS):
                return Undeliverable(FailureReason.COULD_NOT_DELIVER, f"Discord refused the post: {error.text}")
            log.warning("no permission to post job %s in channel %s; sending by DM", job.id, job.origin.channel_id)
            return await self._deliver_by_dm(job, clip, link)
        except discord.NotFound as error:
            if error.code == UNKNOWN_CHANNEL:
                return Undeliverable(FailureReason.UNDELIVERABLE, "The channel was deleted.")
            return Undeliverable(FailureReason.COULD_NOT_DELIVER, f"Discord said: {error.text}")
        except discord.HTTPException as error:
            return Undeliverable(
                FailureReason.COULD_NOT_DELIVER, f"Discord answered {error.status} ({error.text or 'no detail'})."
            )
        return Delivered(message.id, linked_only=link is not None)

    async def _send(
        self,
        channel: discord.abc.Messageable,
        job: Job,
        clip: Clip,
        *,
        link: str | None,
        reference: discord.MessageReference | None,
        buttons: bool,
    ) -> discord.Message:
        """Send, retrying server errors: the enforced nonce makes a resend safe."""
        attempt = 1
        while True:
            extras: dict[str, Any] = {}
            file_name = None
            if link is None:
                file_name = f"{job.id}{clip.path.suffix}"
                extras["file"] = discord.File(clip.path, filename=file_name)
            if reference is not None:
                extras["reference"] = reference
            card = result_card(job, clip, link=link, file_name=file_name)
            layout = card_layout(card, result_buttons(job.id) if buttons else ())
            try:
                return await channel.send(
                    **fit_message(view=layout, nonce=nonce_for(job), allowed_mentions=only_requester(job), **extras)
                )
            except discord.HTTPException as error:
                if error.status < 500 or attempt >= SEND_ATTEMPTS:
                    raise
                log.warning("Discord 5xx posting job %s (attempt %d); retrying", job.id, attempt)
                await asyncio.sleep(self._retry_delay * attempt)
                attempt += 1
            finally:
                if "file" in extras:
                    extras["file"].close()

    async def _deliver_by_dm(self, job: Job, clip: Clip, link: str | None) -> DeliveryOutcome:
        try:
            user = await self._client.fetch_user(job.user_id)
            dm = await user.create_dm()
            # Buttons need the server (quota, permissions), so the DM carries the clip alone.
            message = await self._send(dm, job, clip, link=link, reference=None, buttons=False)
        except discord.HTTPException as error:
            return Undeliverable(
                FailureReason.COULD_NOT_DELIVER,
                f"The bot may not post in that channel any more, and could not DM you either ({error.status}).",
            )
        return Delivered(message.id, linked_only=link is not None, dm_channel_id=dm.id)
