"""Sending answers: ephemeral refusals and first answers that never ping anyone."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_glue import ack
from bot.jobs.refusal import Refusal

NO_PINGS = discord.AllowedMentions.none()


async def say_ephemeral(interaction: discord.Interaction[Any], text: str, **kwargs: Any) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS, **kwargs)
    else:
        ack.answering(interaction)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS, **kwargs)


async def refuse(interaction: discord.Interaction[Any], refusal: Refusal) -> None:
    """A refusal says why and what to do; only the person who asked sees it."""
    await say_ephemeral(interaction, f"⛔ {refusal.message}")
