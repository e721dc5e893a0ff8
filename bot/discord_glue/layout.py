"""A card as a Discord Components V2 layout: one container with the text, the clip and the buttons.

Sent with the IS_COMPONENTS_V2 flag (discord.py sets it for a `LayoutView`), so the
message carries no content and no embeds: everything a member reads is in text
displays, which `limits.fit_message` keeps within Discord's text limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from bot.discord_glue.card import Card, Tone

# Buttons: discord.py types a DynamicItem as an item of either kind of view.
LayoutItem = discord.ui.Item[Any]

TONE_COLOUR: dict[Tone, discord.Colour] = {
    Tone.WORKING: discord.Colour.blurple(),
    Tone.DONE: discord.Colour.green(),
    Tone.CANCELED: discord.Colour.light_grey(),
    Tone.FAILED: discord.Colour.red(),
}


def quoted(prompt: str) -> str:
    return "\n".join(f"> {line}" for line in prompt.splitlines())


def card_layout(card: Card, buttons: Sequence[LayoutItem] = ()) -> discord.ui.LayoutView:
    container: discord.ui.Container[discord.ui.LayoutView] = discord.ui.Container(accent_colour=TONE_COLOUR[card.tone])
    heading = [line for line in (card.lead, None if card.title is None else f"### {card.title}") if line]
    if heading:
        container.add_item(discord.ui.TextDisplay("\n".join(heading)))
    if card.prompt.strip():
        container.add_item(discord.ui.TextDisplay(quoted(card.prompt)))
    if card.facts:
        container.add_item(discord.ui.TextDisplay(" · ".join(f"**{fact.name}** {fact.value}" for fact in card.facts)))
    for note in card.notes:
        container.add_item(discord.ui.TextDisplay(f"**{note.name}**\n{note.value}"))
    if card.clip_file is not None:
        container.add_item(discord.ui.MediaGallery(discord.MediaGalleryItem(f"attachment://{card.clip_file}")))
    container.add_item(discord.ui.Separator())
    container.add_item(discord.ui.TextDisplay(f"-# {card.footer}"))
    if buttons:
        container.add_item(discord.ui.ActionRow(*buttons))
    view = discord.ui.LayoutView(timeout=None)
    view.add_item(container)
    return view
