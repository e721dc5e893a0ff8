"""`footage-bot fit INPUT --limit BYTES -o OUTPUT`: the bot's fitting, on any clip.

Answers "why was my clip posted as a link?": prints each re-encode the bot would
make (frame size, rates, bytes, time) and the verdict, then one JSON line. Exit 0
when the output fits, 1 when it cannot be made to, 2 for a bad option or input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bot.media.encoder import EncoderLimits, EncodeSlots
from bot.media.fit import FitResult, fit_to_limit, upload_budget
from bot.media.probe import NotAVideo
from bot.settings import Settings

PROG = "footage-bot fit"
# Discord's default upload limit for a server without boosts.
DEFAULT_LIMIT = 10 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="the clip to fit")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="BYTES", help="the upload limit (10 MiB)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="where to write the MP4")


def main(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit <= 0:
        print(f"{PROG}: --limit must be a positive number of bytes", file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"{PROG}: {args.input} is not a file", file=sys.stderr)
        return 2
    slots = EncodeSlots(EncoderLimits.from_settings(settings))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="footage-fit-") as folder:
        try:
            result = asyncio.run(fit_to_limit(args.input, args.limit, Path(folder), slots))
        except NotAVideo as error:
            print(f"{PROG}: {error}", file=sys.stderr)
            return 2
        seconds = time.monotonic() - started
        if result.fitted:
            try:
                shutil.copyfile(result.path, args.output)
            except OSError as error:
                print(f"{PROG}: cannot write {args.output}: {error.strerror}", file=sys.stderr)
                return 2
    report(result, args.limit, seconds, args.output)
    return 0 if result.fitted else 1


def report(result: FitResult, limit: int, seconds: float, output: Path) -> None:
    budget = upload_budget(limit)
    print(f"limit {limit} bytes: a file may be {budget} bytes (room is kept for the upload's envelope)")
    if result.fitted and not result.reencoded:
        print(f"{result.size} bytes already fit: copied as is")
    if result.waited_seconds >= 0.1:
        print(f"waited {result.waited_seconds:.1f} s for a free re-encode slot")
    for number, attempt in enumerate(result.attempts, start=1):
        audio = f"audio {attempt.audio_bps // 1000} kbit/s" if attempt.audio_bps else "no audio"
        outcome = f"{attempt.size} bytes" if attempt.size else "no file"
        verdict = "fits" if 0 < attempt.size <= budget else "over" if attempt.size else "failed"
        print(
            f"attempt {number}: {attempt.width}x{attempt.height}, video {attempt.video_bps // 1000} kbit/s, "
            f"{audio} -> {outcome} ({verdict}) in {attempt.seconds:.1f} s"
        )
    if result.fitted:
        print(f"wrote {output}: {result.size} bytes, {result.info.width}x{result.info.height}")
    else:
        print(f"cannot fit, the bot posts a link instead: {result.detail}")
    last = result.attempts[-1] if result.attempts else None
    print(
        json.dumps(
            {
                "fitted": result.fitted,
                "reencoded": result.reencoded,
                "limit": limit,
                "budget": budget,
                "size": result.size,
                "width": result.info.width,
                "height": result.info.height,
                "video_bps": last.video_bps if last else None,
                "audio_bps": last.audio_bps if last else None,
                "attempts": len(result.attempts),
                "seconds": round(seconds, 2),
                "detail": result.detail,
            },
            sort_keys=True,
        )
    )
