"""`footage-bot preview`: the real bot in a local browser preview of Discord (SimCord), no token.

Demo backend, its own database (PREVIEW_DATABASE_PATH), simulated provider latency so
queue positions and progress are visible. Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from bot.health_server import serving
from bot.lifecycle import run_until_stopped
from bot.preview.session import PreviewOptions, PreviewSession, open_preview
from bot.settings import Settings
from bot.store.opening import sole_owner
from bot.store.urls import sqlite_url

# Ready when the preview page is up with the bot in it and the database answers.
PREVIEW_PARTS = ("preview", "database")
# Long enough to watch the queue position, ETA and progress bar move.
DEFAULT_LATENCY = 8.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="loopback port for the preview page (default: a free one)")
    parser.add_argument(
        "--latency",
        type=float,
        metavar="SECONDS",
        help=f"simulated provider time per clip (default: DEMO_LATENCY_SECONDS, else {DEFAULT_LATENCY:g})",
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    latency = args.latency if getattr(args, "latency", None) is not None else settings.demo_latency_seconds
    options = PreviewOptions(
        database_path=settings.preview_database_path,
        latency=latency if latency > 0 else DEFAULT_LATENCY,
        port=getattr(args, "port", 0),
    )
    if not 0 <= options.port <= 65535:
        print("footage-bot preview: --port must be between 0 and 65535", file=sys.stderr)
        return 2
    if options.latency > 600:
        print("footage-bot preview: --latency must be at most 600 seconds", file=sys.stderr)
        return 2
    options.database_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sole_owner(sqlite_url(options.database_path)):
            asyncio.run(_serve(settings, options))
    except OSError as error:
        print(f"footage-bot preview: could not start the preview server: {error}", file=sys.stderr)
        return 1
    return 0


async def _serve(settings: Settings, options: PreviewOptions) -> None:
    async with serving(settings, parts=PREVIEW_PARTS), open_preview(settings, options) as session:

        async def until_closed() -> None:
            announce(session, sys.stdout)  # after the stop signals are handled: the URL invites a Ctrl-C
            await session.preview.wait_closed()

        # The stop's first half here; leaving the block detaches SimCord and closes the bot.
        await run_until_stopped(until_closed(), stop=session.bot.begin_stop)
        print("\nfootage-bot preview: shutting down…", file=sys.stderr)


def announce(session: PreviewSession, out: TextIO) -> None:
    """The URL carries the session's access token: print it where the person will see it."""
    rule = "─" * 72
    out.write(
        f"\n{rule}\n"
        "  footage-bot preview: the real bot in a simulated Discord server\n\n"
        f"  Open  {session.url}\n\n"
        "  In #footage, type /generate and a prompt. Switch member (you, a pro teammate,\n"
        "  an admin) from the viewer menu. Loopback only; the link is the password.\n"
        "  Press Ctrl-C to stop.\n"
        f"{rule}\n"
    )
    out.flush()
