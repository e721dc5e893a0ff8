"""`footage-bot run`: connect to Discord with the bot token from `.env`, or open the local preview."""

from __future__ import annotations

import argparse
import asyncio
import sys

import discord
from pydantic import SecretStr

from bot.discord_glue.app import create_bot
from bot.discord_glue.client import FootageBot
from bot.health_server import serving
from bot.lifecycle import run_until_stopped
from bot.settings import Settings
from bot.store.opening import configured_url, sole_owner

# Ready when Discord's gateway session is up and the database answers.
RUN_PARTS = ("discord", "database")

SETUP_HELP = """\
footage-bot: no DISCORD_TOKEN is set, so the bot opens in a local preview of Discord.

To run the bot on Discord instead:
  1. Open https://discord.com/developers/applications and click "New Application".
  2. In "Bot", click "Reset Token" and copy the token (keep it secret).
  3. In "OAuth2 > URL Generator", tick the scopes "bot" and "applications.commands",
     and the permissions "Send Messages", "Attach Files", "Embed Links" and
     "Read Message History"; open the generated URL to invite the bot to your server.
  4. Put the token in a file named .env next to this project:
        DISCORD_TOKEN=your-token-here
  5. Run `footage-bot run` again (optionally with DEV_GUILD_ID=<your server id> in .env
     so the slash commands appear at once in that server)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync",
        action="store_true",
        help="push the slash command definitions to Discord even if they look unchanged (owner's tool)",
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    if settings.discord_token is None:
        from bot.commands import preview

        print(SETUP_HELP, file=sys.stderr)
        return preview.main(argparse.Namespace(port=0, latency=None), settings)
    return connect(settings, force_sync=bool(getattr(args, "sync", False)))


def connect(settings: Settings, *, force_sync: bool, gateway: bool = False) -> int:
    """Run the bot on Discord until it stops; a refused token or intent is one line, exit 2."""
    assert settings.discord_token is not None
    bot = create_bot(settings, force_sync=force_sync, gateway=gateway)
    assert isinstance(bot, FootageBot)
    try:
        with sole_owner(configured_url(settings)):
            asyncio.run(_run(bot, settings.discord_token, settings))
    except discord.LoginFailure:
        print(
            "footage-bot: Discord refused the token (DISCORD_TOKEN); reset it in the developer portal.", file=sys.stderr
        )
        return 2
    except discord.PrivilegedIntentsRequired:
        print("footage-bot: Discord refused the gateway intents; check the bot's settings.", file=sys.stderr)
        return 2
    return 0


async def _run(bot: FootageBot, token: SecretStr, settings: Settings) -> None:
    """`Client.run` without its logging set-up (the CLI's is in place), inside the metrics server."""
    async with serving(settings, parts=RUN_PARTS), bot:
        await run_until_stopped(bot.start(token.get_secret_value()), stop=bot.stop_gracefully)
