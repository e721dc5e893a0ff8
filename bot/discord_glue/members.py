"""Turn the Discord user behind an interaction into the core's `Member`."""

from __future__ import annotations

from typing import Any

import discord

from bot.quotas.service import Member


def member_info(interaction: discord.Interaction[Any]) -> Member:
    """Roles and rights as Discord resolved them for this interaction's channel.

    `interaction.permissions` already folds in channel overwrites and the owner's
    implicit rights, so it is what Discord itself would enforce.
    """
    user = interaction.user
    roles = frozenset(role.id for role in user.roles) if isinstance(user, discord.Member) else frozenset()
    permissions = interaction.permissions
    return Member(
        user_id=user.id,
        role_ids=roles,
        is_admin=permissions.manage_guild,
        is_moderator=permissions.manage_messages,
    )
