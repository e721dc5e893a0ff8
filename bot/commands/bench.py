"""`footage-bot bench NAME`: benchmarks that print figures, the last line JSON."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json

from bot.settings import Settings

# Benchmark name -> module with `add_arguments(parser)` and `async run(args, settings) -> dict`.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ack": ("bot.benchmarks.ack", "time from a /generate interaction to its first answer, under a busy queue"),
    "render": ("bot.benchmarks.render", "time the demo renderer takes for a clip"),
    "queue": ("bot.benchmarks.queue", "enqueue and dispatch throughput of the job queue"),
    "fit": ("bot.benchmarks.fit", "wall time per clip second of fitting hard clips to an upload limit"),
    "poll": ("bot.benchmarks.poll", "how soon a finished provider job is seen, and its status requests"),
    "preview": ("bot.benchmarks.preview", "how soon the preview page is usable and its clips play, with many clips"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = parser.add_subparsers(dest="benchmark", required=True)
    for name, (module_name, help_text) in BENCHMARKS.items():
        sub = names.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(sub)


def main(args: argparse.Namespace, settings: Settings) -> int:
    module = importlib.import_module(BENCHMARKS[args.benchmark][0])
    figures: dict[str, object] = asyncio.run(module.run(args, settings))
    print(json.dumps(figures, sort_keys=True))
    return 0
