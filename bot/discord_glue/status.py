"""The status message: sent, edited and canceled from; what it says is `status_card`.

Shown to the whole channel as a Components V2 layout (see `layout`); the prompt
is echoed in it, so the message is sent with no allowed mentions at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import discord

from bot.discord_glue.card import Card
from bot.discord_glue.errors import guarded
from bot.discord_glue.layout import LayoutItem, card_layout
from bot.discord_glue.limits import fit_message
from bot.discord_glue.members import member_info
from bot.discord_glue.replies import say_ephemeral
from bot.discord_glue.services import services_of
from bot.discord_glue.status_card import job_sound, status_card
from bot.discord_glue.updater import StatusUpdater
from bot.domain.jobs import JOB_ID_ALPHABET, JOB_ID_LENGTH, Job, JobState
from bot.jobs.facts import Fact
from bot.jobs.scheduler import QueuePlace

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """Everything a status message shows, built in one place for the first answer, edits and /show.

    Two are equal when they would look the same, so the updater skips edits that change nothing.
    """

    card: Card
    job_id: str
    cancelable: bool

    def layout(self, buttons: Sequence[LayoutItem] | None = None) -> discord.ui.LayoutView:
        """The card with its Cancel button while the job can still be canceled, or with `buttons`."""
        if buttons is not None:
            return card_layout(self.card, buttons)
        return card_layout(self.card, (CancelButton(self.job_id),) if self.cancelable else ())

    def send_kwargs(self, buttons: Sequence[LayoutItem] | None = None) -> dict[str, Any]:
        return fit_message(view=self.layout(buttons))

    def edit_kwargs(self) -> dict[str, Any]:
        """For an edit. Clearing content and embeds in the same edit turns a message the bot
        posted as an embed before it used layouts into a layout; on a layout it changes nothing."""
        return fit_message(view=self.layout(), content=None, embeds=[])


def status_message(
    core: Core, job: Job, place: QueuePlace | None, *, note: Fact | None = None, clip_file: str | None = None
) -> StatusMessage:
    card = status_card(job, place, sound=job_sound(core, job), disk_low=core.disk.low, note=note, clip_file=clip_file)
    return StatusMessage(card, job.id, cancelable=not (job.state.finished or job.state is JobState.DELIVERING))


JOB_ID_PATTERN = f"[{JOB_ID_ALPHABET}]{{{JOB_ID_LENGTH}}}"


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.LayoutView]],
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


def status_updater(client: discord.Client, core: Core, *, interval: float) -> StatusUpdater[StatusMessage]:
    """The updater for status messages: renders from the job and the queue, edits through the channel over REST.

    Edits never use the 15-minute interaction token, and work the same with or without
    a gateway connection: they need only the channel and message ids.
    """

    def render(job: Job) -> StatusMessage:
        return status_message(core, job, core.jobs.place(job))

    async def edit(job: Job, shown: StatusMessage, channel_id: int, message_id: int) -> bool:
        message = client.get_partial_messageable(channel_id, guild_id=job.guild_id).get_partial_message(message_id)
        try:
            await message.edit(**shown.edit_kwargs())
        except (discord.NotFound, discord.Forbidden) as error:
            log.info("status message for job %s can no longer be edited: %s", job.id, error)
            return False  # deleted, or no access: stop tracking it
        return True

    return StatusUpdater(render, edit, interval=interval)
