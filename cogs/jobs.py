"""/queue, /cancel, /show, /history: finding and managing your jobs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_glue import text
from bot.discord_glue.buttons import result_buttons
from bot.discord_glue.limits import CHOICE_NAME, cut
from bot.discord_glue.members import member_info
from bot.discord_glue.names import display_name
from bot.discord_glue.replies import acknowledge, answer, say_ephemeral
from bot.discord_glue.services import Services, services_of
from bot.discord_glue.status import status_message
from bot.discord_glue.status_card import clip_link, queue_text
from bot.domain.jobs import Job, JobState, normalize_job_id
from bot.jobs.facts import Fact

LIST_LIMIT = 20
JOB_OPTION_MAX = 32  # an id is 8 characters; room for a pasted id with stray spaces
RECENT_CHOICES = 25


def job_line(services: Services, job: Job, *, owner: str | None = None) -> str:
    line = f"`{job.id}` {job.state.value} · {job.request.model} {job.request.seconds} s"
    place = services.core.jobs.place(job)
    if place is not None:
        line += f" · {queue_text(place)}"
    if owner is not None:
        line += f" · {owner}"
    return f"{line}\n  {text.shorten(job.request.prompt, 80)}"


def job_link(job: Job) -> str | None:
    channel_id = job.status_channel_id or job.origin.channel_id
    if (clip := clip_link(job)) is not None:
        return clip
    if job.status_message_id is not None:
        return text.message_link(job.guild_id, channel_id, job.status_message_id)
    return None


def clip_file(job: Job, limit: int) -> Path | None:
    """The clip on disk, if it is still there and small enough to upload here."""
    size = clip_size(job)
    return Path(job.result_path) if job.result_path is not None and size is not None and size <= limit else None


def clip_size(job: Job) -> int | None:
    """The size of the clip on disk; None when there is none (never fetched, or removed after posting)."""
    if job.result_path is None:
        return None
    try:
        return os.stat(job.result_path).st_size
    except OSError:
        return None


def clip_gone(job: Job) -> bool:
    """A finished clip whose file the bot no longer keeps (MEDIA_RETENTION_DAYS), but that can be seen elsewhere."""
    reachable = job.result_message_id is not None or job.result_url is not None
    return job.state in (JobState.DELIVERED, JobState.FAILED) and reachable and clip_size(job) is None


def clip_gone_text(job: Job) -> str:
    lines = ["The bot no longer keeps this clip's file."]
    link = clip_link(job)
    if link is not None:
        lines.append(f"It was posted here: {link}")
    if job.result_url is not None:
        lines.append(f"The video service's copy, while its link lasts: {job.result_url}")
    return "\n".join(lines)


def job_choices(jobs: list[Job], typed: str) -> list[app_commands.Choice[str]]:
    """Jobs whose id starts with, or whose prompt has words starting with, what was typed; all when nothing is."""
    words = typed.lower().split()

    def matches(job: Job) -> bool:
        prompt_words = job.request.prompt.lower().split()
        return all(
            job.id.lower().startswith(word) or any(prompt_word.startswith(word) for prompt_word in prompt_words)
            for word in words
        )

    return [
        app_commands.Choice(
            name=cut(f"{job.id} · {job.state.value} · {text.shorten(job.request.prompt, 60)}", CHOICE_NAME),
            value=job.id,
        )
        for job in jobs
        if matches(job)
    ][:RECENT_CHOICES]


class Jobs(commands.Cog):
    @app_commands.command(name="queue", description="Your waiting and running jobs (admins: the whole server)")
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        assert interaction.guild_id is not None  # guild_only
        member = member_info(interaction)
        if member.is_admin:
            jobs = await services.core.jobs.guild_open_jobs(interaction.guild_id)
            title = "This server's queue"
        else:
            jobs = await services.core.jobs.open_jobs(interaction.guild_id, member.user_id)
            title = "Your jobs"
        if not jobs:
            await say_ephemeral(interaction, "Nothing is waiting or running. Start one with /generate.")
            return
        lines = [
            job_line(services, job, owner=display_name(interaction, job.user_id) if member.is_admin else None)
            for job in jobs[:LIST_LIMIT]
        ]
        if len(jobs) > LIST_LIMIT:
            lines.append(f"… and {len(jobs) - LIST_LIMIT} more")
        await answer(interaction, embed=discord.Embed(title=title, description="\n".join(lines)), ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one of your unfinished jobs")
    @app_commands.guild_only()
    @app_commands.describe(job="The job id (start typing to pick one of yours)")
    async def cancel(
        self, interaction: discord.Interaction[Any], job: app_commands.Range[str, 1, JOB_OPTION_MAX]
    ) -> None:
        services = services_of(interaction.client)
        assert interaction.guild_id is not None
        canceled = await services.core.jobs.cancel(
            normalize_job_id(job), member_info(interaction), interaction.guild_id
        )
        await say_ephemeral(interaction, f"Canceled job `{canceled.id}`; its reserved seconds are back in your quota.")

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        jobs = await services_of(interaction.client).core.jobs.open_jobs(interaction.guild_id, interaction.user.id)
        return job_choices(jobs, current)

    @app_commands.command(name="show", description="Bring back any job: its status, or the clip with its buttons")
    @app_commands.guild_only()
    @app_commands.describe(job="The job id (start typing to pick one of your recent jobs)")
    async def show(
        self, interaction: discord.Interaction[Any], job: app_commands.Range[str, 1, JOB_OPTION_MAX]
    ) -> None:
        services = services_of(interaction.client)
        found = await services.core.jobs.get(normalize_job_id(job))
        if found is None or found.guild_id != interaction.guild_id:
            await say_ephemeral(interaction, f"There is no job `{normalize_job_id(job)}` in this server. Check the id.")
            return
        place = services.core.jobs.place(found)
        if clip_gone(found):
            gone = status_message(services.core, found, place, note=Fact("Clip", clip_gone_text(found)))
            await answer(interaction, **gone.send_kwargs())
            return
        path = clip_file(found, interaction.filesize_limit)
        if not found.state.finished or found.state is JobState.CANCELED or (path is None and found.result_url is None):
            await answer(interaction, **status_message(services.core, found, place).send_kwargs())
            return
        # Uploading may take a while: acknowledge first, then send the clip.
        await acknowledge(interaction)
        buttons = result_buttons(found.id)
        if path is not None:
            name = f"{found.id}{path.suffix}"
            shown = status_message(services.core, found, place, clip_file=name)
            await answer(interaction, file=discord.File(path, filename=name), **shown.send_kwargs(buttons))
        else:
            too_large = Fact("Clip", f"The clip is too large to upload here: {found.result_url}")
            shown = status_message(services.core, found, place, note=too_large)
            await answer(interaction, **shown.send_kwargs(buttons))

    @show.autocomplete("job")
    async def show_choices(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        jobs = await services_of(interaction.client).core.jobs.history(
            interaction.guild_id, interaction.user.id, limit=RECENT_CHOICES * 4
        )
        return job_choices(jobs, current)

    @app_commands.command(name="history", description="Your recent jobs, with links")
    @app_commands.guild_only()
    async def history(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        assert interaction.guild_id is not None
        jobs = await services.core.jobs.history(interaction.guild_id, interaction.user.id, limit=10)
        if not jobs:
            await say_ephemeral(interaction, "You have no jobs here yet. Start one with /generate.")
            return
        lines = []
        for job in jobs:
            link = job_link(job)
            head = f"[`{job.id}`]({link})" if link else f"`{job.id}`"
            # A finished job says when it finished, an open one when it was asked.
            when = text.relative(job.finished_at or job.created_at)
            lines.append(f"{head} {job.state.value} · {when}\n  {text.shorten(job.request.prompt, 80)}")
        embed = discord.Embed(title="Your recent jobs", description="\n".join(lines))
        await answer(interaction, embed=embed, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Jobs())
