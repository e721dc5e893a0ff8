"""Buttons under a delivered clip: Retry, Remix, Delete, Info.

Each is a DynamicItem whose custom id carries the job id, so they work after a
restart with no in-memory state. Who may retry, remix or delete is the core's
rule (`JobService.job_to_act_on`); Info is for anyone. Every callback runs under
the shared interaction error handler.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any, Self

import discord

from bot.discord_glue import text
from bot.discord_glue.answers import announce
from bot.discord_glue.errors import guarded, handle_error
from bot.discord_glue.limits import TEXT_INPUT_VALUE, cut
from bot.discord_glue.members import member_info
from bot.discord_glue.names import display_name
from bot.discord_glue.replies import answer, say_ephemeral
from bot.discord_glue.services import services_of
from bot.discord_glue.status import JOB_ID_PATTERN
from bot.domain.jobs import Job
from bot.jobs.facts import clip_shape, seed_words

log = logging.getLogger(__name__)

ButtonItem = discord.ui.DynamicItem[discord.ui.Button[discord.ui.LayoutView]]


def _button(
    action: str, job_id: str, label: str, style: discord.ButtonStyle
) -> discord.ui.Button[discord.ui.LayoutView]:
    return discord.ui.Button(label=label, style=style, custom_id=f"footage:{action}:{job_id}")


async def _job_to_act_on(interaction: discord.Interaction[Any], job_id: str) -> Job:
    """The job, if this person may act on it here; else a Refusal the shared handler answers."""
    return await services_of(interaction.client).core.jobs.job_to_act_on(
        job_id, member_info(interaction), interaction.guild_id or 0
    )


class RetryButton(ButtonItem, template=rf"footage:retry:(?P<job>{JOB_ID_PATTERN})"):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("retry", job_id, "Retry", discord.ButtonStyle.primary))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self._retry(interaction))

    async def _retry(self, interaction: discord.Interaction[Any]) -> None:
        await _job_to_act_on(interaction, self.job_id)
        if interaction.channel_id is None:
            return
        enqueued = await services_of(interaction.client).core.jobs.retry(
            self.job_id,
            member_info(interaction),
            channel_id=interaction.channel_id,
            upload_limit=interaction.filesize_limit,
        )
        await announce(interaction, enqueued)


class RemixModal(discord.ui.Modal, title="Remix this clip"):
    def __init__(self, job_id: str, prompt: str, max_chars: int) -> None:
        super().__init__(timeout=None, custom_id=f"footage:remixmodal:{job_id}")
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=cut(prompt, min(max_chars, TEXT_INPUT_VALUE)),
            max_length=min(max_chars, TEXT_INPUT_VALUE),
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.channel_id is None:
            return
        enqueued = await services_of(interaction.client).core.jobs.remix(
            self.job_id,
            member_info(interaction),
            self.prompt.value,
            channel_id=interaction.channel_id,
            upload_limit=interaction.filesize_limit,
        )
        await announce(interaction, enqueued)

    # discord.py's Modal.on_error takes no item, though its stubs inherit the View's signature.
    async def on_error(self, interaction: discord.Interaction[Any], error: Exception, /) -> None:  # type: ignore[override]
        await handle_error(interaction, error)


class RemixButton(ButtonItem, template=rf"footage:remix:(?P<job>{JOB_ID_PATTERN})"):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("remix", job_id, "Remix", discord.ButtonStyle.secondary))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self._open_modal(interaction))

    async def _open_modal(self, interaction: discord.Interaction[Any]) -> None:
        job = await _job_to_act_on(interaction, self.job_id)
        settings = services_of(interaction.client).settings
        # A modal must be the first answer, so nothing else is awaited before it.
        await interaction.response.send_modal(RemixModal(job.id, job.request.prompt, settings.prompt_max_chars))


class DeleteButton(ButtonItem, template=rf"footage:delete:(?P<job>{JOB_ID_PATTERN})"):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("delete", job_id, "Delete", discord.ButtonStyle.danger))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self._delete(interaction))

    async def _delete(self, interaction: discord.Interaction[Any]) -> None:
        await _job_to_act_on(interaction, self.job_id)
        services = services_of(interaction.client)
        await say_ephemeral(interaction, f"Deleted the clip for job `{self.job_id}`.")
        if interaction.message is not None:
            # Already gone is the outcome the user wanted.
            with contextlib.suppress(discord.NotFound):
                await interaction.message.delete()
        await services.core.jobs.forget_result(self.job_id)


class InfoButton(ButtonItem, template=rf"footage:info:(?P<job>{JOB_ID_PATTERN})"):
    def __init__(self, job_id: str) -> None:
        super().__init__(_button("info", job_id, "Info", discord.ButtonStyle.secondary))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await guarded(interaction, self._info(interaction))

    async def _info(self, interaction: discord.Interaction[Any]) -> None:
        job = await services_of(interaction.client).core.jobs.get(self.job_id)
        if job is None:
            await say_ephemeral(interaction, f"Job `{self.job_id}` no longer exists.")
            return
        await answer(interaction, embed=info_embed(job, display_name(interaction, job.user_id)), ephemeral=True)


def info_embed(job: Job, requester: str) -> discord.Embed:
    request = job.request
    embed = discord.Embed(title=f"Job {job.id}", description=text.shorten(request.prompt, 2000))
    embed.add_field(name="Requested by", value=requester)
    embed.add_field(name="Model", value=request.model)
    embed.add_field(name="Length", value=clip_shape(request))
    embed.add_field(name="Seed", value=seed_words(request.seed))
    embed.add_field(name="State", value=job.state.value)
    embed.add_field(name="Asked", value=text.absolute(job.created_at))
    if request.negative_prompt:
        embed.add_field(name="Negative prompt", value=text.shorten(request.negative_prompt, 1000), inline=False)
    if request.image_url:
        embed.add_field(name="Start image", value="yes", inline=True)
    if job.failure is not None:
        embed.add_field(name="Failure", value=job.failure.plain, inline=False)
    return embed


def result_buttons(job_id: str) -> tuple[ButtonItem, ...]:
    return (RetryButton(job_id), RemixButton(job_id), DeleteButton(job_id), InfoButton(job_id))


DYNAMIC_ITEMS: tuple[type[ButtonItem], ...] = (RetryButton, RemixButton, DeleteButton, InfoButton)
