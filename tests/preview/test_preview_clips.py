"""The preview's clips are ones its browser plays as they are.

SimCord's preview converts every video that is not VP9/Opus WebM to WebM before the
page can play it, one clip at a time in a child process: about 9-14 s for a 4 s
H.264 demo clip on this machine, against 0.1 s to check a WebM one (figures in
docs/operations.md). With clips piling up in the channel that conversion was where
the page's time went, so the preview's demo renders WebM. This pins SimCord 3.2.1's
behaviour through its media module (a private one: if it moves, this test says so).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from simcord.preview import _markdown, _media

from bot.media.demo_render import render_demo
from bot.preview.live import WEBM_MAGIC, check_webm_in_process, reuse_markdown_parsers
from bot.preview.session import preview_settings
from bot.settings import Settings
from tests.reencoding import child_pids


def test_the_preview_renders_webm() -> None:
    settings = preview_settings(Settings(_env_file=None), latency=1.0)  # type: ignore[call-arg]
    assert settings.demo_format == "webm"


def test_a_webm_demo_clip_is_played_without_conversion(tmp_path: Path) -> None:
    webm = render_demo(tmp_path / "a.webm", prompt="a boat", seconds=1, aspect="16:9", seed=1, container="webm")
    checked = _media._process_media(webm.path.read_bytes(), None)
    assert checked.transformation != "transcode"
    assert checked.content_type == "video/webm"


def test_an_mp4_clip_would_be_converted(tmp_path: Path) -> None:
    mp4 = render_demo(tmp_path / "a.mp4", prompt="a boat", seconds=1, aspect="16:9", seed=1)
    assert _media._process_media(mp4.path.read_bytes(), None).transformation == "transcode"


class _PreviewStandIn:
    """Only what `check_webm_in_process` gives a preview: its media worker."""

    _media_worker: Any = None


async def _validate_watching_children(worker: Any, key: str, blob: bytes) -> tuple[Any, set[str]]:
    """The worker's verdict on `blob`, and the child processes seen while it checked."""
    before = child_pids()
    seen: set[str] = set()
    checking = asyncio.ensure_future(worker.validate(key, blob))
    while not checking.done():
        seen |= child_pids() - before
        await asyncio.sleep(0.005)
    return checking.result(), seen


async def test_the_preview_checks_its_webm_clips_in_process_with_simcords_verdict(tmp_path: Path) -> None:
    webm = render_demo(tmp_path / "a.webm", prompt="a boat", seconds=1, aspect="16:9", seed=1, container="webm")
    blob = webm.path.read_bytes()
    preview = _PreviewStandIn()
    assert check_webm_in_process(preview)  # type: ignore[arg-type]
    worker = preview._media_worker
    try:
        in_process, children = await _validate_watching_children(worker, "webm", blob)
        assert children == set()
    finally:
        await worker.close()
    simcords = _media.MediaWorker()
    try:
        by_child = await simcords.validate("webm", blob)
    finally:
        await simcords.close()
    for field in ("content_type", "transformation", "width", "height", "frames", "duration", "display_codecs"):
        assert getattr(in_process, field) == getattr(by_child, field), field
    # The remux the page plays: the muxer stamps ids of its own, so the bytes differ by a few.
    assert in_process.normalized.startswith(WEBM_MAGIC)
    assert abs(len(in_process.normalized) - len(by_child.normalized)) < 1024


async def test_other_media_is_still_checked_in_simcords_child_process(tmp_path: Path) -> None:
    mp4 = render_demo(tmp_path / "a.mp4", prompt="a boat", seconds=1, aspect="16:9", seed=1)
    preview = _PreviewStandIn()
    assert check_webm_in_process(preview)  # type: ignore[arg-type]
    worker = preview._media_worker
    try:
        checked, children = await _validate_watching_children(worker, "mp4", mp4.path.read_bytes())
    finally:
        await worker.close()
    assert checked.transformation == "transcode"
    assert children, "an MP4 is checked (and converted) in SimCord's memory-limited child process"


def test_markdown_parsers_are_reused_with_the_same_tokens() -> None:
    text = "**Generating** · a fox <@123> over https://example.com/a and ||a secret||"
    context = {"users": {"123": "You"}}
    fresh = _markdown.markdown_tokens(text, "text_display", context=context)
    assert reuse_markdown_parsers()
    assert reuse_markdown_parsers()  # idempotent: the hook is not wrapped twice
    again = _markdown.markdown_tokens(text, "text_display", context=context)
    parser = _markdown._markdown_parser
    assert again == fresh
    policy = _markdown._FIELD_POLICIES["text_display"]
    assert parser(policy, context) is parser(dict(policy), dict(context))
    assert parser(policy, context) is not parser(policy, {"users": {"123": "Teammate"}})
