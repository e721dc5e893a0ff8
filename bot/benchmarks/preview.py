"""`footage-bot bench preview`: how soon the preview page is usable, and its clips playable, with many clips.

Opens the preview in-process on a fresh database, orders `--clips` clips as its member
(real jobs, delivered by the bot), then opens the page in headless Chromium and times
it: until the composer shows, until the newest clip is on the page, and how many of the
page's videos can play as time goes on. Needs Playwright (the dev extras) and Chromium.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.preview.filling import fill_channel, roomy_settings
from bot.preview.session import PreviewOptions, open_preview
from bot.settings import Settings

FILL_TIMEOUT = 600.0
PLAYABLE = "() => [...document.querySelectorAll('video')].filter(v => v.readyState >= 1 && v.duration > 0).length"
VIDEOS = "() => document.querySelectorAll('video').length"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=30, help="clips in the channel before the page opens")
    parser.add_argument("--watch", type=float, default=20.0, help="seconds to watch the videos become playable")
    parser.add_argument("--chromium", type=Path, default=None, help="the browser (default: chromium on PATH)")


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    chromium = args.chromium or Path(shutil.which("chromium") or "/usr/bin/chromium")
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as name:
        folder = Path(name)
        configured = roomy_settings(settings.model_copy(update={"media_dir": folder / "clips"}), args.clips, folder)
        options = PreviewOptions(database_path=folder / "preview.db", latency=0.0)
        async with open_preview(configured, options) as session:
            mark = time.perf_counter()
            await fill_channel(session, args.clips, timeout=FILL_TIMEOUT)
            filled = time.perf_counter() - mark
            print(f"{args.clips} clips ordered and delivered in {filled:.1f} s")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    page = await browser.new_page(viewport={"width": 1200, "height": 900})
                    mark = time.perf_counter()
                    await page.goto(session.url)
                    await page.get_by_placeholder("Message #footage").wait_for()
                    composer = time.perf_counter() - mark
                    if args.clips:
                        newest = page.locator("article.channel-message", has_text=f"example clip {args.clips}")
                        await newest.first.wait_for()
                    shown = time.perf_counter() - mark
                    print(f"composer after {composer:.2f} s, the newest clip's message after {shown:.2f} s")
                    playable_at: dict[int, float] = {}
                    videos = 0
                    while time.perf_counter() - mark < args.watch:
                        videos = int(await page.evaluate(VIDEOS))
                        playable = int(await page.evaluate(PLAYABLE))
                        playable_at.setdefault(playable, time.perf_counter() - mark)
                        if playable >= max(videos, args.clips, 1):  # every clip's video is on the page and plays
                            break
                        await page.wait_for_timeout(250)
                finally:
                    await browser.close()
    most = max(playable_at, default=0)
    for count, seconds in sorted(playable_at.items()):
        if count:
            print(f"{count:3d} of {videos} videos playable after {seconds:.2f} s")
    return {
        "clips": args.clips,
        "fill_seconds": round(filled, 2),
        "composer_seconds": round(composer, 2),
        "newest_clip_seconds": round(shown, 2),
        "videos_on_page": videos,
        "videos_playable": most,
        "all_playable_seconds": round(playable_at[most], 2) if args.clips and most >= args.clips else None,
    }
