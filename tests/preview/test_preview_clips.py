"""The preview's clips are ones its browser plays as they are.

SimCord's preview converts every video that is not VP9/Opus WebM to WebM before the
page can play it, one clip at a time in a child process: about 9-14 s for a 4 s
H.264 demo clip on this machine, against 0.1 s to check a WebM one (figures in
docs/operations.md). With clips piling up in the channel that conversion was where
the page's time went, so the preview's demo renders WebM. This pins SimCord 3.2.1's
behaviour through its media module (a private one: if it moves, this test says so).
"""

from __future__ import annotations

from pathlib import Path

from simcord.preview import _media

from bot.media.demo_render import render_demo
from bot.preview.session import preview_settings
from bot.settings import Settings


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
