"""Members' names for text the bot writes (lists, Info, usage): a name, not a raw id.

The bot runs without the members intent, so the guild's member cache is mostly
empty. Every interaction carries its member, so the names of the people who use
the bot are remembered as they come (in memory: after a restart they fill again).
"""

from __future__ import annotations

from typing import Any

import discord

# (guild id, user id) → display name; bounded so a huge server cannot grow it without end.
MAX_REMEMBERED = 50_000


class MemberNames:
    def __init__(self) -> None:
        self._names: dict[tuple[int, int], str] = {}

    def remember(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.guild_id is None:
            return
        key = (interaction.guild_id, interaction.user.id)
        self._names.pop(key, None)
        self._names[key] = interaction.user.display_name
        if len(self._names) > MAX_REMEMBERED:
            del self._names[next(iter(self._names))]  # the least recently seen

    def get(self, guild: discord.Guild | None, guild_id: int, user_id: int) -> str | None:
        member = guild.get_member(user_id) if guild is not None else None
        if member is not None:
            return member.display_name
        return self._names.get((guild_id, user_id))


def display_name(interaction: discord.Interaction[Any], user_id: int) -> str:
    """The member's name as this server shows it; a mention (which clients resolve) when unknown."""
    if user_id == interaction.user.id:
        return interaction.user.display_name
    names: MemberNames | None = getattr(getattr(interaction.client, "footage", None), "names", None)
    name = names.get(interaction.guild, interaction.guild_id or 0, user_id) if names is not None else None
    return name if name is not None else f"<@{user_id}>"
