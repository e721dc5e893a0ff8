"""`footage-bot gateway`: the Discord connection alone; answers interactions and enqueues.

Worker processes (`footage-bot worker`) on the same PostgreSQL database drive the
jobs. Several gateways can split a big bot's shards (SHARD_COUNT, SHARD_IDS).
"""

from __future__ import annotations

import argparse
import sys

from bot.commands import run
from bot.commands.processes import refusal_without_postgresql
from bot.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run.add_arguments(parser)


def main(args: argparse.Namespace, settings: Settings) -> int:
    if (refusal := refusal_without_postgresql(settings, "gateway")) is not None:
        print(refusal, file=sys.stderr)
        return 2
    if settings.discord_token is None:
        print(
            "footage-bot gateway: DISCORD_TOKEN is needed (the gateway is the bot's Discord connection).",
            file=sys.stderr,
        )
        return 2
    return run.connect(settings, force_sync=bool(getattr(args, "sync", False)), gateway=True)
