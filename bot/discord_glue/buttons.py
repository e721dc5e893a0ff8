"""Buttons under a delivered clip: Retry, Remix, Delete, Info.

Each is a DynamicItem whose custom id carries the job id, so they work after a
restart with no in-memory state. Only the requester or a moderator (Manage
Messages) may retry, remix or delete; Info is for anyone.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any, Self

import discord

from bot.discord_glue import text
from bot.discord_glue.answers import announce
from bot.discord_glue.members import is_moderator, member_info
from bot.discord_glue.replies import NO_PINGS, refuse, say_ephemeral
from bot.discord_glue.services import services_of
from bot.discord_glue.status import JOB_ID_PATTERN
from bot.domain.jobs import Job
from bot.jobs.refusal import Refusal

log = logging.getLogger(__name__)

ButtonItem = discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]]


def _button(action: str, job_id: str, label: str, style: discord.ButtonStyle) -> discord.ui.Button[discord.ui.View]:
    return discord.ui.Button(label=label, style=style, custom_id=f"footage:{action}:{job_id}")


async def _own_job(interaction: discord.Interaction[Any], job_id: str, *, action: str) -> Job | None:
    """The job, if this person may `action` it here; otherwise tell them why and return None."""
    services = services_of(interaction.client)
    job = await services.core.jobs.get(job_id)
    if job is None or job.guild_id != interaction.guild_id:
        await say_ephemeral(interaction, f"Job `{job_id}` no longer exists here.")
        return None
    if job.user_id != interaction.user.id and not is_moderator(interaction):
        await say_ephemeral(
            interaction, f"Only <@{job.user_id}> (who asked for this clip) or a moderator can {action} it."
        )
        return None
    return job


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
        if await _own_job(interaction, self.job_id, action="retry") is None or interaction.channel_id is None:
            return
        services = services_of(interaction.client)
        try:
            enqueued = await services.core.jobs.retry(
                self.job_id,
                member_info(interaction),
                channel_id=interaction.channel_id,
                upload_limit=interaction.filesize_limit,
            )
        except Refusal as refusal:
            await refuse(interaction, refusal)
            return
        await announce(interaction, enqueued)


class RemixModal(discord.ui.Modal, title="Remix this clip"):
    def __init__(self, job_id: str, prompt: str, max_chars: int) -> None:
        super().__init__(timeout=None, custom_id=f"footage:remixmodal:{job_id}")
        self.job_id = job_id
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=prompt[:max_chars],
            max_length=min(max_chars, 4000),
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.channel_id is None:
            return
        services = services_of(interaction.client)
        try:
            enqueued = await services.core.jobs.remix(
                self.job_id,
                member_info(interaction),
                self.prompt.value,
                channel_id=interaction.channel_id,
                upload_limit=interaction.filesize_limit,
            )
        except Refusal as refusal:
            await refuse(interaction, refusal)
            return
        await announce(interaction, enqueued)


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
        job = await _own_job(interaction, self.job_id, action="remix")
        if job is None:
            return
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
        if await _own_job(interaction, self.job_id, action="delete") is None:
            return
        services = services_of(interaction.client)
        await interaction.response.send_message(
            f"Deleted the clip for job `{self.job_id}`.", ephemeral=True, allowed_mentions=NO_PINGS
        )
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
        job = await services_of(interaction.client).core.jobs.get(self.job_id)
        if job is None:
            await say_ephemeral(interaction, f"Job `{self.job_id}` no longer exists.")
            return
        await interaction.response.send_message(embed=info_embed(job), ephemeral=True, allowed_mentions=NO_PINGS)


def info_embed(job: Job) -> discord.Embed:
    request = job.request
    embed = discord.Embed(title=f"Job {job.id}", description=text.shorten(request.prompt, 2000))
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>")
    embed.add_field(name="Model", value=request.model)
    embed.add_field(name="Length", value=f"{request.seconds} s · {request.aspect}")
    embed.add_field(name="Seed", value=str(request.seed) if request.seed is not None else "random")
    embed.add_field(name="State", value=job.state.value)
    embed.add_field(name="Asked", value=f"<t:{int(job.created_at.timestamp())}:f>")
    if request.negative_prompt:
        embed.add_field(name="Negative prompt", value=text.shorten(request.negative_prompt, 1000), inline=False)
    if request.image_url:
        embed.add_field(name="Start image", value="yes", inline=True)
    if job.failure is not None:
        embed.add_field(name="Failure", value=job.failure.plain, inline=False)
    return embed


def result_view(job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for item in (RetryButton(job_id), RemixButton(job_id), DeleteButton(job_id), InfoButton(job_id)):
        view.add_item(item)
    return view


DYNAMIC_ITEMS: tuple[type[ButtonItem], ...] = (RetryButton, RemixButton, DeleteButton, InfoButton)
