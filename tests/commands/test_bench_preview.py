"""`footage-bot bench preview` fills the preview's channel and times the page in headless Chromium.

A short run: it checks the benchmark works and what it reports, never how fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from tests.preview.conftest import chromium_path

pytestmark = pytest.mark.browser


def test_bench_preview_reports_the_page_and_its_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium is not installed")
    pytest.importorskip("playwright.async_api")
    monkeypatch.chdir(tmp_path)  # no .env here

    code = cli.main(["bench", "preview", "--clips", "2", "--watch", "30", "--chromium", str(chromium)])

    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith("2 clips ordered and delivered in ")
    figures = json.loads(out[-1])
    assert (figures["clips"], figures["videos_on_page"], figures["videos_playable"]) == (2, 2, 2)
    assert 0 < figures["composer_seconds"] <= figures["newest_clip_seconds"] <= figures["all_playable_seconds"]
