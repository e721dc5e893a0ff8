"""The preview in-process (no browser): one clock, and a start-up that says what renders."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.preview.session import PreviewOptions, open_preview
from bot.settings import Settings


async def test_the_bot_and_the_page_share_one_clock_and_start_up_names_the_backend(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, footage_backend="fal", fal_model="fal-ai/some-model", media_dir=tmp_path / "clips"
    )
    options = PreviewOptions(database_path=tmp_path / "preview.db", latency=0.1)
    async with open_preview(settings, options) as session:
        services = session.bot.footage
        assert services is not None
        await asyncio.sleep(1.5)  # SimCord's own clock only moves when something moves it
        bot_now = services.clock()
        page_now = session.env.backend.clock.now()  # message times and the page's "now"
        assert abs((bot_now - page_now).total_seconds()) < 0.05
        assert abs((bot_now - datetime.now(UTC)).total_seconds()) < 2.0

    said = caplog.text
    assert "the preview renders with the demo backend, not the configured one (FOOTAGE_BACKEND=fal)" in said
    assert "FAL_KEY is not set" in said
    assert "video backends: demo" in said
    assert "static token" not in said
