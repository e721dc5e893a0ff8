"""One error path for every interaction: commands, buttons and modals alike.

A `Refusal` raised anywhere is answered here, privately, in its plain words. Anything
unexpected gets a short ephemeral note with a reference code, and the traceback goes
to the log under the same code, so a user's screenshot leads straight to the log line.
The command tree routes its errors here; buttons and modals run through `guarded`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Coroutine
from typing import Any

import discord
from discord import app_commands

from bot.discord_glue import ack
from bot.discord_glue.replies import refuse, say_ephemeral
from bot.jobs.refusal import Refusal

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
    if interaction.command is not None:
        name = f"/{interaction.command.qualified_name}"
    else:
        data: dict[str, Any] = dict(interaction.data or {})
        name = str(data.get("custom_id", "component"))
    log.error("interaction failed [ref %s] (%s)", code, name, exc_info=error)
    try:
        await say_ephemeral(
            interaction, f"Something went wrong on the bot's side (reference `{code}`). Please try again."
        )
    except discord.HTTPException:
        log.warning("could not tell the user about failure %s", code)
    return code


def unwrapped(error: BaseException) -> BaseException:
    """What a command raised, without discord.py's wrapper."""
    return error.original if isinstance(error, app_commands.CommandInvokeError) else error


def is_refusal(error: BaseException) -> bool:
    """A refusal travels as an exception to reach the handler, but it is an answer, not a fault."""
    return isinstance(unwrapped(error), Refusal)


async def handle_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Answer whatever went wrong in an interaction: a refusal, a failed check, or a fault (with a code)."""
    error = unwrapped(error)
    if isinstance(error, Refusal):
        await refuse(interaction, error)
    elif isinstance(error, app_commands.CheckFailure):
        await say_ephemeral(interaction, check_failure_text(error))
    else:
        await report_failure(interaction, error)


RESTARTING = "The bot is restarting; try again in a moment."


def stopping(client: discord.Client) -> bool:
    """The bot is stopping (SIGTERM): what still arrives is answered, not started."""
    return bool(getattr(client, "stopping", False))


async def guarded(interaction: discord.Interaction[Any], action: Coroutine[Any, Any, None]) -> None:
    """Run a button's or modal's work under the same handler as commands.

    discord.py would only log a component's exception, and the member would see
    Discord's bare "This interaction failed".
    """
    if stopping(interaction.client):
        action.close()
        await say_ephemeral(interaction, RESTARTING)
        return
    try:
        await action
    except Exception as error:
        await handle_error(interaction, error)


class FootageTree(app_commands.CommandTree[Any]):
    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        await handle_error(interaction, error)

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # The first thing the tree runs for every command: where the ack latency starts.
        ack.taken(interaction)
        if not stopping(interaction.client):
            return True
        if interaction.type is discord.InteractionType.application_command:  # autocomplete has no message
            await say_ephemeral(interaction, RESTARTING)
        return False
