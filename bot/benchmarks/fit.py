"""`footage-bot bench fit`: how long fitting a clip to the upload limit makes a member wait.

Generates hard clips (see `bot.media.hard_clips`), fits each to `--limit` the way
the bot does (this machine's encoder settings), and prints per clip the wall time,
the wall time per second of clip (the target is at most 1.0 for a 10 s 1080p clip
to 10 MiB), ffmpeg's CPU time, the attempts and the result. Generating the clips
is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

from bot.media.encoder import EncoderLimits, EncodeSlots
from bot.media.fit import fit_to_limit, upload_budget
from bot.media.hard_clips import HardClip, write_hard_clip
from bot.settings import Settings

HEADLINE = HardClip("motion", 1080, 10, audio=True)
CORPUS = (
    HEADLINE,
    HardClip("noise", 1080, 10, audio=False),
    HardClip("static", 1080, 15, audio=True),
    HardClip("motion", 720, 15, audio=True),
    HardClip("noise", 480, 2, audio=True),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=10 * 1024 * 1024, metavar="BYTES", help="upload limit (10 MiB)")
    parser.add_argument("--all", action="store_true", help="the whole corpus, not only 10 s of 1080p motion")
    parser.add_argument("--runs", type=int, default=1, help="fits of each clip (1)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    limits = EncoderLimits.from_settings(settings)
    slots = EncodeSlots(limits)
    print(f"encoder: {limits.describe()}; limit {args.limit} bytes (budget {upload_budget(args.limit)})")
    figures: dict[str, object] = {"limit": args.limit, "threads": limits.threads, "load_1m": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-fit-") as folder:
        for clip in CORPUS if args.all else (HEADLINE,):
            source = await asyncio.to_thread(write_hard_clip, clip, Path(folder) / f"{clip.name}.mp4")
            walls: list[float] = []
            for run_number in range(max(1, args.runs)):
                cpu, started = _children_cpu(), time.monotonic()
                result = await fit_to_limit(source, args.limit, Path(folder) / f"out{run_number}", slots)
                wall, cpu = time.monotonic() - started, _children_cpu() - cpu
                walls.append(wall)
                tries = len(result.attempts)
                print(
                    f"{clip.name}: {source.stat().st_size} -> {result.size} bytes "
                    f"{result.info.width}x{result.info.height}, {tries} attempt(s), fitted={result.fitted}; "
                    f"wall {wall:.1f} s = {wall / clip.seconds:.2f} s per clip second, ffmpeg CPU {cpu:.1f} s",
                    flush=True,
                )
                if not result.fitted:
                    print(f"  not fitted: {result.detail}")
            figures[f"{clip.name}_wall_per_clip_second"] = round(min(walls) / clip.seconds, 3)
    figures["load_1m_after"] = os.getloadavg()[0]
    return figures
