"""The command tree with one error handler: a short ephemeral note with a reference code.

The traceback goes to the log under the same code, so a user's screenshot leads
straight to the log line.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord
from discord import app_commands

from bot.discord_glue import ack
from bot.discord_glue.replies import say_ephemeral

log = logging.getLogger(__name__)


def reference_code() -> str:
    return secrets.token_hex(3).upper()


# Discord's client calls some permissions by other names than the API does.
PERMISSION_NAMES = {"manage_guild": "Manage Server", "manage_messages": "Manage Messages"}


def check_failure_text(error: app_commands.CheckFailure) -> str:
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works inside a server."
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(
            PERMISSION_NAMES.get(name, name.replace("_", " ").title()) for name in error.missing_permissions
        )
        return f"You need the {needed} permission to use this command."
    return str(error) or "You cannot use this command here."


async def report_failure(interaction: discord.Interaction[Any], error: BaseException) -> str:
    """Log `error` under a fresh code and tell the user, privately, with that code."""
    code = reference_code()
    name = interaction.command.qualified_name if interaction.command is not None else "component"
    log.error("interaction failed [ref %s] (%s)", code, name, exc_info=error)
    try:
        await say_ephemeral(
            interaction, f"Something went wrong on the bot's side (reference `{code}`). Please try again."
        )
    except discord.HTTPException:
        log.warning("could not tell the user about failure %s", code)
    return code


class FootageTree(app_commands.CommandTree[Any]):
    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            await say_ephemeral(interaction, check_failure_text(error))
            return
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        await report_failure(interaction, original)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # The first thing the tree runs for every command: where the ack latency starts.
        ack.taken(interaction)
        return True
