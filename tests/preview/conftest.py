"""The browser under test: Debian's Chromium driven by Playwright, or a clear skip.

Set FOOTAGE_REQUIRE_BROWSER=1 (CI does) to turn a missing Chromium into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> Path | None:
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("FOOTAGE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and FOOTAGE_REQUIRE_BROWSER=1 requires the browser test")
    pytest.skip(f"browser test skipped: {reason} (install it with `apt-get install chromium`)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """A launched headless Chromium.

    Module scope, not session: Playwright's sync API keeps an event loop marked as
    running in this thread while it is open, and async tests after it would fail.
    """
    executable = chromium_path()
    if executable is None:
        _unavailable("Chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    assert executable is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
