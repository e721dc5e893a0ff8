"""Sending answers: every reply is cut to Discord's limits and pings nobody unless told to."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_glue import ack
from bot.discord_glue.limits import fit_message
from bot.jobs.refusal import Refusal

NO_PINGS = discord.AllowedMentions.none()


async def answer(
    interaction: discord.Interaction[Any], content: str | None = None, *, ephemeral: bool = False, **kwargs: Any
) -> discord.InteractionCallbackResponse[Any] | None:
    """Answer, or follow up when the interaction was already acknowledged; cut to fit.

    Returns the callback when this was the first answer (its message id is in it).
    """
    message = fit_message(content, **{key: value for key, value in kwargs.items() if value is not None})
    message.setdefault("allowed_mentions", NO_PINGS)
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=ephemeral, **message)
        return None
    ack.answering(interaction)
    return await interaction.response.send_message(ephemeral=ephemeral, **message)


async def acknowledge(interaction: discord.Interaction[Any], *, ephemeral: bool = False) -> None:
    """The first answer for work that takes a while ("thinking…"); the real answer follows up."""
    ack.answering(interaction)
    await interaction.response.defer(ephemeral=ephemeral, thinking=True)


async def say_ephemeral(interaction: discord.Interaction[Any], text: str, **kwargs: Any) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    await answer(interaction, text, ephemeral=True, **kwargs)


async def refuse(interaction: discord.Interaction[Any], refusal: Refusal) -> None:
    """A refusal says why and what to do; only the person who asked sees it."""
    await say_ephemeral(interaction, f"⛔ {refusal.message}")
