"""The status message: what a job is doing, rendered from the job alone.

Shown to the whole channel, so the prompt goes in an embed (embeds never ping)
and the message is sent with no allowed mentions at all.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

import discord

from bot.clock import Clock
from bot.discord_glue import text
from bot.discord_glue.members import member_info
from bot.discord_glue.replies import NO_PINGS, refuse, say_ephemeral
from bot.discord_glue.services import services_of
from bot.domain.jobs import JOB_ID_ALPHABET, JOB_ID_LENGTH, Job, JobState
from bot.jobs.refusal import Refusal
from bot.jobs.scheduler import QueuePlace

if TYPE_CHECKING:
    from bot.core import Core
    from bot.discord_glue.updater import Editor

log = logging.getLogger(__name__)

PROMPT_LIMIT = 1000

STATE_LABEL: dict[JobState, str] = {
    JobState.QUEUED: "⏳ Waiting in the queue",
    JobState.SUBMITTING: "📤 Sending to the video service",
    JobState.RUNNING: "🎬 Generating",
    JobState.FETCHING: "📥 Downloading the clip",
    JobState.DELIVERING: "📤 Posting the clip",
    JobState.DELIVERED: "✅ Done",
    JobState.CANCELED: "🚫 Canceled",
    JobState.FAILED: "❌ Failed",
}

STATE_COLOUR: dict[JobState, discord.Colour] = {
    JobState.DELIVERED: discord.Colour.green(),
    JobState.CANCELED: discord.Colour.light_grey(),
    JobState.FAILED: discord.Colour.red(),
}


def _elapsed(job: Job, now: datetime) -> float:
    end = job.finished_at if job.finished_at is not None else now
    return (end - job.created_at).total_seconds()


def status_embed(job: Job, place: QueuePlace | None, now: datetime) -> discord.Embed:
    embed = discord.Embed(
        title=STATE_LABEL[job.state],
        description=text.shorten(job.request.prompt, PROMPT_LIMIT),
        colour=STATE_COLOUR.get(job.state, discord.Colour.blurple()),
    )
    embed.add_field(name="Model", value=job.request.model)
    embed.add_field(name="Length", value=f"{job.request.seconds} s · {job.request.aspect}")
    embed.add_field(name="Elapsed", value=text.duration(_elapsed(job, now)))
    if job.state is JobState.QUEUED and place is not None:
        embed.add_field(
            name="Queue",
            value=f"Position {place.position} · ready in about {text.duration(place.eta_seconds)}",
            inline=False,
        )
    if job.state is JobState.RUNNING:
        if job.progress is not None:
            progress = f"`{text.bar(job.progress)}` {round(job.progress * 100)}%"
        elif job.provider_queue_position is not None:
            progress = f"Waiting at the video service (position {job.provider_queue_position})"
        else:
            progress = "Started"
        embed.add_field(name="Progress", value=progress, inline=False)
    if job.state is JobState.FAILED and job.failure is not None:
        reason = job.failure.plain
        if job.failure_detail:
            reason += f"\n{text.shorten(job.failure_detail, 300)}"
        embed.add_field(name="What happened", value=reason, inline=False)
        if job.cost_seconds:
            embed.add_field(name="Quota", value="Nothing was charged for this job.", inline=False)
    if job.state is JobState.DELIVERED and job.result_message_id is not None:
        channel_id = job.origin.channel_id
        link = text.message_link(job.guild_id, channel_id, job.result_message_id)
        embed.add_field(name="Clip", value=f"[Jump to the clip]({link})", inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


JOB_ID_PATTERN = f"[{JOB_ID_ALPHABET}]{{{JOB_ID_LENGTH}}}"


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"footage:cancel:(?P<job>{JOB_ID_PATTERN})",
):
    """Cancel on the status message; the job id lives in the custom id, so it survives restarts."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id=f"footage:cancel:{job_id}")
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        if interaction.guild_id is None:
            await say_ephemeral(interaction, "This button only works inside a server.")
            return
        try:
            job = await services.core.jobs.cancel(self.job_id, member_info(interaction), interaction.guild_id)
        except Refusal as refusal:
            await refuse(interaction, refusal)
            return
        await interaction.response.send_message(f"Canceled job `{job.id}`.", ephemeral=True, allowed_mentions=NO_PINGS)


def status_view(job: Job) -> discord.ui.View | None:
    """A Cancel button while the job can still be canceled; nothing once it is finished."""
    if job.state.finished or job.state is JobState.DELIVERING:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    return view


def status_editor(client: discord.Client, core: Core, clock: Clock) -> Editor:
    """The updater's editor: through the channel (not the 15-minute interaction token), over REST.

    Works the same with or without a gateway connection: it needs only the channel and
    message ids. False once the message can no longer be edited (deleted, no access).
    """

    async def edit(job: Job, channel_id: int, message_id: int) -> bool:
        message = client.get_partial_messageable(channel_id, guild_id=job.guild_id).get_partial_message(message_id)
        try:
            await message.edit(embed=status_embed(job, core.jobs.place(job), clock()), view=status_view(job))
        except (discord.NotFound, discord.Forbidden) as error:
            log.info("status message for job %s can no longer be edited: %s", job.id, error)
            return False
        return True

    return edit
