"""`footage-bot` (= `python -m bot`): run, doctor, render, preview, fit, backup, bench.

Every subcommand turns a configuration problem into one clear line and a non-zero
exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bot.gc_tuning import tune_collector
from bot.logs import setup_logging
from bot.models import CatalogError
from bot.settings import Settings, SettingsError, load_settings
from bot.store.sqlite.owner import DatabaseInUse
from bot.store.store import DatabaseUnreachable

# Subcommand name -> module with `add_arguments(parser)` and `main(args, settings) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bot.commands.run", "run the bot (connects to Discord; without a token, opens the local preview)"),
    "gateway": (
        "bot.commands.gateway",
        "the Discord connection alone: answers and enqueues (PostgreSQL, with workers)",
    ),
    "worker": ("bot.commands.worker", "claims and drives jobs, posts clips over REST; no gateway (PostgreSQL)"),
    "doctor": ("bot.commands.doctor", "check the configuration and print a pass/fail line per check"),
    "render": ("bot.commands.render", "run one generation through the configured backend, no Discord"),
    "preview": ("bot.commands.preview", "run the bot in a local browser preview of Discord"),
    "fit": ("bot.commands.fit", "fit a clip to an upload limit as the bot would, and say how (last line JSON)"),
    "backup": ("bot.commands.backup", "copy the database to a new file, safely while the bot runs"),
    "bench": ("bot.commands.bench", "measure the bot (prints figures, last line JSON)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="footage-bot", description="Order AI video footage from Discord.")
    commands = parser.add_subparsers(dest="command")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if args.command is None:
        args = build_parser().parse_args(["run", *(argv or [])])
    try:
        settings: Settings = load_settings()
    except SettingsError as error:
        print(f"footage-bot: invalid settings (from the environment or .env):\n{error}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    module = importlib.import_module(SUBCOMMANDS[command][0])
    tune_collector()
    try:
        code: int = module.main(args, settings)
    except CatalogError as error:
        print(f"footage-bot: invalid model configuration: {error}", file=sys.stderr)
        return 2
    except DatabaseInUse as error:
        print(f"footage-bot: {error}", file=sys.stderr)
        return 1
    except DatabaseUnreachable as error:
        print(f"footage-bot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


def entry() -> None:
    sys.exit(main())
