"""`footage-bot backup PATH`: a consistent copy of the database, safe while the bot runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.settings import Settings
from bot.store.opening import configured_url
from bot.store.sqlite.backup import BackupFailed, backup_database
from bot.store.urls import sqlite_path, store_kind


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="the new file to write the copy to (must not exist)")


def main(args: argparse.Namespace, settings: Settings) -> int:
    url = configured_url(settings)
    if store_kind(url) != "sqlite":
        print(
            "footage-bot backup: DATABASE_URL is PostgreSQL; back it up with pg_dump (see the README)", file=sys.stderr
        )
        return 2
    source = sqlite_path(url)
    try:
        backup_database(source, args.path)
    except BackupFailed as error:
        print(f"footage-bot backup: {error}", file=sys.stderr)
        return 1
    print(f"backed up {source} to {args.path} ({args.path.stat().st_size:,} bytes; integrity check ok)")
    return 0
