"""/queue, /cancel, /show, /history: finding and managing your jobs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_glue import text
from bot.discord_glue.buttons import result_view
from bot.discord_glue.members import member_info
from bot.discord_glue.replies import NO_PINGS, refuse, say_ephemeral
from bot.discord_glue.services import Services, services_of
from bot.discord_glue.status import status_embed, status_view
from bot.domain.jobs import Job, JobState, normalize_job_id
from bot.jobs.refusal import Refusal

LIST_LIMIT = 20


def job_line(services: Services, job: Job, *, with_user: bool = False) -> str:
    line = f"`{job.id}` {job.state.value} · {job.request.model} {job.request.seconds} s"
    place = services.core.jobs.place(job)
    if place is not None:
        line += f" · position {place.position}, ready in about {text.duration(place.eta_seconds)}"
    if with_user:
        line += f" · <@{job.user_id}>"
    return f"{line}\n  {text.shorten(job.request.prompt, 80)}"


def job_link(job: Job) -> str | None:
    channel_id = job.status_channel_id or job.origin.channel_id
    if job.result_message_id is not None:
        return text.message_link(job.guild_id, job.origin.channel_id, job.result_message_id)
    if job.status_message_id is not None:
        return text.message_link(job.guild_id, channel_id, job.status_message_id)
    return None


def clip_file(job: Job, limit: int) -> Path | None:
    """The clip on disk, if it is still there and small enough to upload here."""
    if job.result_path is None:
        return None
    path = Path(job.result_path)
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    return path if size <= limit else None


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
        lines = [job_line(services, job, with_user=member.is_admin) for job in jobs[:LIST_LIMIT]]
        if len(jobs) > LIST_LIMIT:
            lines.append(f"… and {len(jobs) - LIST_LIMIT} more")
        embed = discord.Embed(title=title, description="\n".join(lines)[:4000])
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="cancel", description="Cancel one of your unfinished jobs")
    @app_commands.guild_only()
    @app_commands.describe(job="The job id (start typing to pick one of yours)")
    async def cancel(self, interaction: discord.Interaction[Any], job: str) -> None:
        services = services_of(interaction.client)
        assert interaction.guild_id is not None
        try:
            canceled = await services.core.jobs.cancel(
                normalize_job_id(job), member_info(interaction), interaction.guild_id
            )
        except Refusal as refusal:
            await refuse(interaction, refusal)
            return
        await say_ephemeral(interaction, f"Canceled job `{canceled.id}`; its reserved seconds are back in your quota.")

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        services = services_of(interaction.client)
        if interaction.guild_id is None:
            return []
        typed = current.strip().lower()
        jobs = await services.core.jobs.open_jobs(interaction.guild_id, interaction.user.id)
        return [
            app_commands.Choice(
                name=f"{job.id} · {job.state.value} · {text.shorten(job.request.prompt, 60)}"[:100], value=job.id
            )
            for job in jobs
            if typed in job.id.lower() or typed in job.request.prompt.lower()
        ][:25]

    @app_commands.command(name="show", description="Bring back any job: its status, or the clip with its buttons")
    @app_commands.guild_only()
    @app_commands.describe(job="The job id")
    async def show(self, interaction: discord.Interaction[Any], job: str) -> None:
        services = services_of(interaction.client)
        found = await services.core.jobs.get(normalize_job_id(job))
        if found is None or found.guild_id != interaction.guild_id:
            await say_ephemeral(interaction, f"There is no job `{normalize_job_id(job)}` in this server. Check the id.")
            return
        embed = status_embed(found, services.core.jobs.place(found), services.clock())
        if not found.state.finished:
            view = status_view(found)
            if view is None:
                await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(embed=embed, view=view, allowed_mentions=NO_PINGS)
            return
        path = clip_file(found, interaction.filesize_limit)
        if found.state is JobState.CANCELED or (path is None and found.result_url is None):
            await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)
            return
        # Uploading may take a while: acknowledge first, then send the clip.
        await interaction.response.defer(thinking=True)
        view = result_view(found.id)
        if path is not None:
            await interaction.followup.send(
                embed=embed, file=discord.File(path, filename=f"{found.id}.mp4"), view=view, allowed_mentions=NO_PINGS
            )
        else:
            await interaction.followup.send(
                f"The clip is too large to upload here: {found.result_url}",
                embed=embed,
                view=view,
                allowed_mentions=NO_PINGS,
            )

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
            when = f"<t:{int(job.created_at.timestamp())}:R>"
            lines.append(f"{head} {job.state.value} · {when}\n  {text.shorten(job.request.prompt, 80)}")
        embed = discord.Embed(title="Your recent jobs", description="\n".join(lines)[:4000])
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Jobs())
