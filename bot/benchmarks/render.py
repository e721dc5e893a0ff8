"""`footage-bot bench render`: how long the demo renderer takes for one clip.

The first render runs in a fresh worker process (cold: the process starts and
imports PyAV and Pillow); the next `--runs` reuse it (warm), which is what the bot
sees once it has rendered anything. Percentiles are over the warm runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.backends.demo import new_render_pool
from bot.media.demo_render import frame_size, render_demo
from bot.settings import Settings

PROMPT = "A paper boat drifting down a rain-soaked street at night, neon reflections, slow tracking shot"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=4, help="clip length (4)")
    parser.add_argument("--aspect", default="16:9", help="aspect ratio (16:9)")
    parser.add_argument("--runs", type=int, default=5, help="warm renders after the cold one (5)")


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    width, height = frame_size(args.aspect)
    runs = max(1, args.runs)
    timings: list[float] = []
    pool = new_render_pool()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-render-") as folder:
            for index in range(runs + 1):
                dest = Path(folder) / f"clip{index}.mp4"
                started = time.perf_counter()
                job = pool.submit(
                    render_demo, dest, prompt=PROMPT, seconds=args.seconds, aspect=args.aspect, seed=index
                )
                await asyncio.wrap_future(job)
                timings.append(time.perf_counter() - started)
                label = "cold (starts the worker process)" if index == 0 else "warm"
                print(f"render {index}: {timings[-1]:.2f} s  {label}", flush=True)
    finally:
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
    warm = timings[1:]
    return {
        "render_p50_s": round(statistics.median(warm), 3),
        "render_max_s": round(max(warm), 3),
        "render_cold_s": round(timings[0], 3),
        "width": width,
        "height": height,
        "seconds": args.seconds,
        "runs": runs,
    }
