"""The status message: what a job is doing, rendered from the job alone.

Shown to the whole channel, so the prompt goes in an embed (embeds never ping)
and the message is sent with no allowed mentions at all.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import discord

from bot.discord_glue import text
from bot.discord_glue.errors import guarded
from bot.discord_glue.limits import fit_message
from bot.discord_glue.members import member_info
from bot.discord_glue.replies import say_ephemeral
from bot.discord_glue.services import services_of
from bot.discord_glue.updater import StatusUpdater
from bot.domain.jobs import JOB_ID_ALPHABET, JOB_ID_LENGTH, Job, JobState
from bot.jobs.facts import clip_shape
from bot.jobs.scheduler import EXACT_POSITIONS, QueuePlace

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

PROMPT_LIMIT = 1000
FAILURE_DETAIL_LIMIT = 300

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


def queue_text(place: QueuePlace) -> str:
    """Where a waiting job stands. Far back only "far back", and no ETA while paused."""
    where = f"Position {place.position}" if place.exact else f"At least {EXACT_POSITIONS} jobs ahead of this one"
    if place.paused:
        return f"{where} · the queue is paused here: nothing starts until an admin resumes it"
    if not place.exact:
        return where
    return f"{where} · ready in about {text.duration(place.eta_seconds)}"


def _timing(job: Job) -> tuple[str, str]:
    """How long it took once finished; while not, when it was asked (the reader's client counts from there)."""
    if job.finished_at is not None:
        return "Took", text.duration((job.finished_at - job.created_at).total_seconds())
    return "Asked", text.relative(job.created_at)


def clip_link(job: Job) -> str | None:
    """Where the posted clip is: in the job's channel, or in the requester's DMs (a link only they can open)."""
    if job.result_message_id is None:
        return None
    if job.result_dm_channel_id is not None:
        return text.message_link(None, job.result_dm_channel_id, job.result_message_id)
    return text.message_link(job.guild_id, job.origin.channel_id, job.result_message_id)


def clip_text(job: Job) -> str:
    link = clip_link(job)
    if job.result_dm_channel_id is not None:
        return (
            "The bot may not post in this channel, so the clip was sent to its requester by direct message "
            f"([open it in your DMs]({link}))."
        )
    return f"[Jump to the clip]({link})"


# Jobs the low-disk guard holds: a queued job does not start, a finished render is not fetched.
HELD_BY_DISK = frozenset({JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING, JobState.FETCHING})
DISK_NOTE = "⚠️ The bot is waiting for disk space; this job continues once the admin frees some."


def status_embed(job: Job, place: QueuePlace | None, *, disk_low: bool = False) -> discord.Embed:
    embed = discord.Embed(
        title=STATE_LABEL[job.state],
        description=text.shorten(job.request.prompt, PROMPT_LIMIT),
        colour=STATE_COLOUR.get(job.state, discord.Colour.blurple()),
    )
    embed.add_field(name="Model", value=job.request.model)
    embed.add_field(name="Length", value=clip_shape(job.request))
    embed.add_field(name=(timing := _timing(job))[0], value=timing[1])
    if job.state is JobState.QUEUED and place is not None:
        embed.add_field(name="Queue", value=queue_text(place), inline=False)
    if job.state is JobState.SUBMITTING and job.waiting_reason is not None:
        embed.add_field(name="Progress", value=job.waiting_reason, inline=False)
    if job.state is JobState.RUNNING:
        if job.progress is not None:
            progress = f"`{text.bar(job.progress)}` {round(job.progress * 100)}%"
        elif job.provider_queue_position is not None:
            progress = f"Waiting at the video service (position {job.provider_queue_position})"
        else:
            progress = "Started"
        embed.add_field(name="Progress", value=progress, inline=False)
    if job.state is JobState.FETCHING and job.clip_step is not None:
        embed.add_field(name="Progress", value=job.clip_step.plain, inline=False)
    if disk_low and job.state in HELD_BY_DISK:
        embed.add_field(name="Waiting for disk space", value=DISK_NOTE, inline=False)
    if job.state is JobState.FAILED and job.failure is not None:
        reason = job.failure.plain
        if job.failure_detail:
            reason += f"\n{text.shorten(job.failure_detail, FAILURE_DETAIL_LIMIT)}"
        embed.add_field(name="What happened", value=reason, inline=False)
        if job.cost_seconds:
            embed.add_field(name="Quota", value="Nothing was charged for this job.", inline=False)
    if job.state is JobState.DELIVERED and job.result_message_id is not None:
        embed.add_field(name="Clip", value=clip_text(job), inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """Everything a status message shows, built in one place for the first answer, edits and /show.

    Two are equal when they would look the same, so the updater skips edits that change nothing.
    """

    embed: discord.Embed
    view: discord.ui.View | None

    @property
    def shown(self) -> tuple[str, tuple[str, ...]]:
        buttons = (
            ()
            if self.view is None
            else tuple(str(item.custom_id) for item in self.view.children if hasattr(item, "custom_id"))
        )
        return json.dumps(self.embed.to_dict(), sort_keys=True), buttons

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StatusMessage) and self.shown == other.shown

    def __hash__(self) -> int:
        return hash(self.shown)

    def send_kwargs(self) -> dict[str, Any]:
        """For a new message (no view means no components)."""
        extras: dict[str, Any] = {} if self.view is None else {"view": self.view}
        return fit_message(embed=self.embed, **extras)

    def edit_kwargs(self) -> dict[str, Any]:
        """For an edit (no view removes the buttons)."""
        return fit_message(embed=self.embed, view=self.view)


def status_message(job: Job, place: QueuePlace | None, *, disk_low: bool = False) -> StatusMessage:
    return StatusMessage(status_embed(job, place, disk_low=disk_low), status_view(job))


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
        await guarded(interaction, self._cancel(interaction))

    async def _cancel(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        if interaction.guild_id is None:
            await say_ephemeral(interaction, "This button only works inside a server.")
            return
        job = await services.core.jobs.cancel(self.job_id, member_info(interaction), interaction.guild_id)
        await say_ephemeral(interaction, f"Canceled job `{job.id}`.")


def status_view(job: Job) -> discord.ui.View | None:
    """A Cancel button while the job can still be canceled; nothing once it is finished."""
    if job.state.finished or job.state is JobState.DELIVERING:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    return view


def status_updater(client: discord.Client, core: Core, *, interval: float) -> StatusUpdater[StatusMessage]:
    """The updater for status messages: renders from the job and the queue, edits through the channel over REST.

    Edits never use the 15-minute interaction token, and work the same with or without
    a gateway connection: they need only the channel and message ids.
    """

    def render(job: Job) -> StatusMessage:
        return status_message(job, core.jobs.place(job), disk_low=core.disk.low)

    async def edit(job: Job, shown: StatusMessage, channel_id: int, message_id: int) -> bool:
        message = client.get_partial_messageable(channel_id, guild_id=job.guild_id).get_partial_message(message_id)
        try:
            await message.edit(**shown.edit_kwargs())
        except (discord.NotFound, discord.Forbidden) as error:
            log.info("status message for job %s can no longer be edited: %s", job.id, error)
            return False  # deleted, or no access: stop tracking it
        return True

    return StatusUpdater(render, edit, interval=interval)
