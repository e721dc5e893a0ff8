"""A preview whose channel is full of clips before its URL is printed (`python -m tests.preview.busy_preview`).

The browser test opens it to see the page with many clips. It is `footage-bot preview`
with the member's clips ordered and delivered first, on a database in `--folder`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.commands.preview import announce
from bot.lifecycle import run_until_stopped
from bot.logs import setup_logging
from bot.preview.filling import fill_channel, roomy_settings
from bot.preview.session import PreviewOptions, open_preview
from bot.settings import Settings

FILL_TIMEOUT = 200.0


async def serve(clips: int, latency: float, port: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    settings = roomy_settings(Settings(_env_file=None, media_dir=folder / "clips"), clips, folder)
    options = PreviewOptions(database_path=folder / "preview.db", latency=latency, port=port)
    async with open_preview(settings, options) as session:
        await fill_channel(session, clips, timeout=FILL_TIMEOUT)

        async def until_closed() -> None:
            announce(session, sys.stdout)
            await session.preview.wait_closed()

        await run_until_stopped(until_closed(), stop=session.bot.begin_stop)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, required=True)
    parser.add_argument("--latency", type=float, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    setup_logging("INFO")
    asyncio.run(serve(args.clips, args.latency, args.port, args.folder))


if __name__ == "__main__":
    main()
