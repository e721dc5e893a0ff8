"""The first answer to a command that queued a job: the public status message.

Sent at once (the enqueue before it is one fast transaction); the message ids are
stored after the answer, so nothing slow stands between the click and the reply.
If Discord has already given up on the interaction (answered after its 3 s, on a
starved host), the job is queued and reserved all the same, so its status message is
posted in the channel instead: a member must never own a job nobody can see or cancel.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import discord

from bot.discord_glue import ack, text
from bot.discord_glue.replies import NO_PINGS, say_ephemeral
from bot.discord_glue.services import services_of
from bot.discord_glue.status import status_message
from bot.domain.jobs import JobState
from bot.jobs.service import Enqueued

log = logging.getLogger(__name__)


async def announce(interaction: discord.Interaction[Any], enqueued: Enqueued) -> None:
    services = services_of(interaction.client)
    job = enqueued.job
    if enqueued.duplicate:
        where = ""
        if job.status_message_id is not None and job.status_channel_id is not None:
            where = f": {text.message_link(job.guild_id, job.status_channel_id, job.status_message_id)}"
        await say_ephemeral(interaction, f"That is already on its way as job `{job.id}`{where}")
        return
    place = enqueued.place if job.state is JobState.QUEUED else None
    shown = status_message(services.core, job, place)
    ack.answering(interaction)
    channel_id = interaction.channel_id
    try:
        callback = await interaction.response.send_message(allowed_mentions=NO_PINGS, **shown.send_kwargs())
    except discord.NotFound:
        if channel_id is None:
            raise
        log.warning("job %s: the interaction expired before its answer; posting its status in the channel", job.id)
        channel = interaction.client.get_partial_messageable(channel_id, guild_id=job.guild_id)
        message_id = (await channel.send(allowed_mentions=NO_PINGS, **shown.send_kwargs())).id
    else:
        # Everything below happens after the user already sees the answer.
        message_id = callback.message_id
        if message_id is None:
            message_id = (await interaction.original_response()).id
    if channel_id is None:
        return
    await services.core.jobs.attach_status(job.id, channel_id, message_id)
    services.updater.attach(job.id, channel_id, message_id, shown)
    latest = await services.core.jobs.get(job.id)
    # The job may have moved on, or others ahead of it, before the ids were stored:
    # catch up (an unchanged render costs no edit), in the background like every edit.
    if latest is not None:
        services.background(partial(services.updater.push, latest))
