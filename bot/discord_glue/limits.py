"""Discord's length limits, and the one place that cuts what the bot sends to fit them.

Over any of these Discord answers 400 (50035) and the member sees nothing useful.
Everything the bot sends or edits passes through `fit_message` (replies, status
messages, clip posts), so text built from prompts, model names, provider
failure details, blocklist patterns or usage tables can never push a message
over. Limits from https://discord.com/developers/docs/resources/message and
.../interactions/message-components.
"""

from __future__ import annotations

from typing import Any

import discord

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBED_TOTAL = 6000  # title + description + field names and values + footer + author, over all embeds
# Components V2: all text displays of one message together (each alone has the same limit);
# discord.py itself refuses a layout of more than 40 components.
LAYOUT_TEXT = 4000
MODAL_TITLE = 45
TEXT_INPUT_LABEL = 45
TEXT_INPUT_VALUE = 4000
BUTTON_LABEL = 80
CHOICE_NAME = 100
CHOICE_VALUE = 100

ELLIPSIS = "…"


def cut(text: str, limit: int) -> str:
    """`text` if it fits, else cut to `limit` characters ending in an ellipsis.

    Multi-line text (tables, lists) is cut at a line break when one falls in the
    second half, so no row is left half-shown.
    """
    if len(text) <= limit:
        return text
    room = max(limit - 1, 0)
    line_end = text.rfind("\n", 0, room)
    if line_end >= room // 2:
        return text[:line_end] + "\n" + ELLIPSIS
    return text[:room] + ELLIPSIS


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """A copy of `embed` with every part, and the whole, within Discord's limits."""
    data = embed.to_dict()
    if "title" in data:
        data["title"] = cut(data["title"], EMBED_TITLE)
    if "description" in data:
        data["description"] = cut(data["description"], EMBED_DESCRIPTION)
    fields = data.get("fields", [])[:EMBED_FIELDS]
    for field in fields:
        field["name"] = cut(field["name"], FIELD_NAME) or "\u200b"
        field["value"] = cut(field["value"], FIELD_VALUE) or "\u200b"
    if fields:
        data["fields"] = fields
    if "footer" in data and "text" in data["footer"]:
        data["footer"]["text"] = cut(data["footer"]["text"], FOOTER)
    if "author" in data and "name" in data["author"]:
        data["author"]["name"] = cut(data["author"]["name"], AUTHOR)
    fitted = discord.Embed.from_dict(data)
    excess = len(fitted) - EMBED_TOTAL
    if excess > 0:
        # The description is the longest free text (a prompt): it gives way first, then field values.
        description = fitted.description or ""
        taken = min(excess, len(description))
        fitted.description = cut(description, len(description) - taken) if taken else fitted.description
        excess -= taken
        for index, shown in enumerate(list(fitted.fields)):
            if excess <= 0:
                break
            value = shown.value or ""
            shorter = cut(value, max(len(value) - excess, 1))
            excess -= len(value) - len(shorter)
            fitted.set_field_at(index, name=shown.name, value=shorter, inline=shown.inline)
    return fitted


def fit_layout(view: discord.ui.LayoutView) -> discord.ui.LayoutView:
    """`view` with its text displays cut, longest first, until their total is within Discord's limit."""
    texts = [item for item in view.walk_children() if isinstance(item, discord.ui.TextDisplay)]
    excess = sum(len(shown.content) for shown in texts) - LAYOUT_TEXT
    while excess > 0:
        longest = max(texts, key=lambda shown: len(shown.content))
        shorter = cut(longest.content, max(len(longest.content) - excess, 1))
        excess -= len(longest.content) - len(shorter)
        longest.content = shorter
    return view


def fit_message(content: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """The keyword arguments for a send or edit, with `content`, any embed and any layout's text cut to fit."""
    if content is not None:
        kwargs["content"] = cut(content, CONTENT)
    embed = kwargs.get("embed")
    if isinstance(embed, discord.Embed):
        kwargs["embed"] = fit_embed(embed)
    view = kwargs.get("view")
    if isinstance(view, discord.ui.LayoutView):
        kwargs["view"] = fit_layout(view)
    return kwargs
