"""The preview end to end, as a person uses it: `footage-bot preview` in a real headless Chromium.

The preview runs as its own process (the real CLI), so the test also covers the
printed URL and the clean shutdown on Ctrl-C (SIGINT). The channel with many clips is
filled before the page opens by `tests/preview/busy_preview.py`, the same preview
with its member's clips ordered first.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

REPO = Path(__file__).resolve().parents[2]
# Long enough that the second job is still waiting or running when the test clicks its
# Cancel button, even on a loaded two-core machine.
LATENCY_SECONDS = 12
START_TIMEOUT = 30.0
# Clips in the busy channel, and how long ordering them may take before its URL is printed.
BUSY_CLIPS = 30
BUSY_START_TIMEOUT = 240.0
# SimCord checks each clip in a child process before the page can play it (the preview's
# clips are WebM, so it is not converted; see tests/preview/test_preview_clips.py).
CLIP_TIMEOUT_MS = 40_000
URL_PATTERN = re.compile(r"http://127\.0\.0\.1:\d+/#\S+")
SCREENSHOT = os.environ.get("FOOTAGE_PREVIEW_SCREENSHOT")

pytestmark = pytest.mark.browser


@dataclass
class RunningPreview:
    process: subprocess.Popen[str]
    url: str
    log_path: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_preview(tmp_path: Path, command: list[str], timeout: float) -> Iterator[RunningPreview]:
    """Run `command` (a preview that prints its URL), yield it once the URL is out, stop it after."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "FOOTAGE_", "DEMO_", "DEV_GUILD"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        PREVIEW_DATABASE_PATH=str(tmp_path / "preview.db"),
        DATABASE_PATH=str(tmp_path / "must-not-be-used.db"),
        MEDIA_DIR=str(tmp_path / "clips"),
        LOG_LEVEL="INFO",
    )
    # cwd=tmp_path: no developer .env is read.
    # stderr (the logs) goes to a file so a chatty run can never fill a pipe and stall the preview.
    log_path = tmp_path / "preview.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    url = None
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if match := URL_PATTERN.search(line):
            url = match.group(0)
    if url is None:
        process.kill()
        process.communicate(timeout=10)
        pytest.fail(f"the preview printed no URL:\n{''.join(lines)}\n{log_path.read_text()}")
    running = RunningPreview(process, url, log_path)
    try:
        yield running
    finally:
        stop(process)
    assert not (tmp_path / "must-not-be-used.db").exists(), "the preview touched the production database"


@pytest.fixture
def preview(tmp_path: Path) -> Iterator[RunningPreview]:
    command = [sys.executable, "-m", "bot", "preview", "--port", str(free_port()), "--latency", str(LATENCY_SECONDS)]
    yield from start_preview(tmp_path, command, START_TIMEOUT)


@pytest.fixture
def busy_preview(tmp_path: Path) -> Iterator[RunningPreview]:
    command = [sys.executable, "-m", "tests.preview.busy_preview", "--port", str(free_port())]
    command += ["--clips", str(BUSY_CLIPS), "--latency", str(LATENCY_SECONDS), "--folder", str(tmp_path / "busy")]
    yield from start_preview(tmp_path, command, BUSY_START_TIMEOUT)


def stop(process: subprocess.Popen[str]) -> None:
    """Ctrl-C, then a kill if it hangs; never wait on stdout (render workers may still hold it)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def card_title(message: Page | Locator) -> Locator:
    """The title line of a status or clip card (a Components V2 text display's heading)."""
    return message.locator(".text-display h3")


def card_line(message: Locator, label: str) -> Locator:
    """The card's text that carries `label` (for example "Progress" or "Asked")."""
    return message.locator(".text-display", has_text=label)


def status_card(page: Page, prompt: str) -> Locator:
    # The status card is the one with a title (the clip post echoes the prompt too).
    return page.locator("article.channel-message", has=card_title(page)).filter(has_text=prompt)


def run_generate(page: Page, prompt: str, *, attempts: int = 3, image: Path | None = None) -> Locator:
    """Type /generate in the composer, pick it, fill the prompt (and attach `image`) and send; return the status card.

    Like a click, a send made on a superseded page revision is rejected and the draft
    stays in the composer; sending it again is what a person does. With `attempts=1`
    the first send must be taken.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    composer = page.get_by_placeholder("Message #footage")
    composer.click()
    composer.type("/generate")
    page.get_by_role("option", name=re.compile(r"generate")).first.wait_for()
    page.keyboard.press("Enter")
    field = page.get_by_label(re.compile(r"^prompt"))
    field.fill(prompt)
    if image is not None:
        # Optional options are added from the command's own menu, as a person does.
        page.get_by_role("button", name="Command /generate").click()
        page.get_by_role("option", name=re.compile(r"^image")).first.click()
        page.locator("input.command-file-input[data-option=image]").set_input_files(str(image))
        page.locator(".command-file-choose", has_text=image.name).wait_for()
    status = status_card(page, prompt)
    for _ in range(attempts - 1):
        field.press("Enter")
        try:
            status.wait_for(timeout=4_000)
            return status
        except PlaywrightTimeout:
            continue
    field.press("Enter")
    status.wait_for(timeout=15_000)
    return status


def wait_until_playable(page: Page, video: Locator) -> None:
    video.wait_for(state="attached", timeout=10_000)
    page.wait_for_function(
        "video => video.readyState >= 1 && video.duration > 0", arg=video.element_handle(), timeout=CLIP_TIMEOUT_MS
    )


def click_until(button: Locator, watched: Locator, text: str, attempts: int = 5) -> None:
    """Click, and click again if the page did not take it.

    SimCord rejects a click made on a page revision that a newer publish replaced (the
    person is asked to click again); live updates publish while jobs run, so a click can
    race one (a running job's status is edited every 2 s). A click that was taken but
    answered slowly removes the button: then there is nothing left to click, and the
    answer must still show. Five rejected clicks in a row is a failure.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    for _ in range(attempts):
        try:
            button.click(timeout=5_000)
        except PlaywrightTimeout:
            break  # the button is gone: an earlier click was taken
        try:
            expect(watched).to_contain_text(text, timeout=6_000)
            return
        except AssertionError:
            continue
    expect(watched).to_contain_text(text, timeout=15_000)


def test_generate_watch_progress_play_clip_and_cancel(chromium: Browser, preview: RunningPreview) -> None:
    from playwright.sync_api import expect

    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto(preview.url)
    expect(page.get_by_placeholder("Message #footage")).to_be_visible()

    first = run_generate(page, "a red fox leaping over a snowy fence")
    title = card_title(first)
    # Without any click or refresh, the status message moves on: queued/generating, then done.
    expect(title).to_have_text(re.compile(r"Generating|Waiting|Queued|Submitting"), timeout=10_000)
    progress = card_line(first, "Progress")
    expect(progress).to_contain_text(re.compile(r"[1-9]\d?%"), timeout=10_000)
    # The page counts from SimCord's clock and the bot stamps jobs with its own: one clock, so
    # the moment the job was asked is in the past (not "in 8 seconds").
    expect(card_line(first, "Asked")).to_contain_text(re.compile(r"ago|now"))

    # A second job from the same member waits behind the first (one running job per member).
    second = run_generate(page, "a lighthouse in a storm at night")
    click_until(second.get_by_role("button", name="Cancel"), card_title(second), "Canceled")

    expect(title).to_contain_text("Done", timeout=45_000)
    clip = page.locator("article.channel-message", has_text="your clip is ready").locator("video")
    wait_until_playable(page, clip)
    if SCREENSHOT:
        clip.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOT)
    page.close()

    stop(preview.process)
    logs = preview.log_path.read_text()
    assert preview.process.returncode == 0, logs
    assert "Traceback" not in logs, logs
    assert "shutting down" in logs
    # Start-up says what renders, the preview claims no token, and each job's end is one line.
    assert "the preview renders with the demo backend" in logs, logs
    assert "static token" not in logs, logs
    assert re.search(r"job \w{8} canceled after [\d.]+ s", logs), logs
    assert re.search(r"job \w{8} delivered after [\d.]+ s", logs), logs


def test_image_to_video_from_the_page(chromium: Browser, preview: RunningPreview, tmp_path: Path) -> None:
    """A PNG attached to /generate in the page: the bot fetches it through Discord and the job ends with a clip."""
    from PIL import Image
    from playwright.sync_api import expect

    picture = tmp_path / "start.png"
    Image.new("RGB", (640, 360), (40, 120, 200)).save(picture)
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto(preview.url)
    expect(page.get_by_placeholder("Message #footage")).to_be_visible()

    status = run_generate(page, "the picture slowly comes alive", image=picture)
    expect(card_title(status)).to_contain_text("Done", timeout=60_000)
    clip = page.locator("article.channel-message", has_text="your clip is ready").locator("video")
    wait_until_playable(page, clip)
    page.close()
    logs = preview.log_path.read_text()
    assert re.search(r"job \w{8} delivered after [\d.]+ s", logs), logs


def test_a_channel_with_many_clips_stays_usable(chromium: Browser, busy_preview: RunningPreview) -> None:
    """With 30 clips in the channel the page opens, plays them, and takes a send made while a job runs."""
    from playwright.sync_api import expect

    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto(busy_preview.url)
    expect(page.get_by_placeholder("Message #footage")).to_be_visible()
    newest = page.locator("article.channel-message", has_text=f"example clip {BUSY_CLIPS}")
    expect(newest.first).to_be_visible()
    wait_until_playable(page, newest.locator("video").first)

    # Each send must be taken the first time, also the one made while the first job runs.
    first = run_generate(page, "a heron over a misty lake", attempts=1)
    expect(card_title(first)).to_have_text(re.compile(r"Generating|Waiting|Queued|Submitting"), timeout=10_000)
    second = run_generate(page, "a tram crossing a bridge at dusk", attempts=1)
    expect(card_title(first)).not_to_contain_text("Done")  # the second send was made while the first job ran
    expect(page.get_by_text("Action was not completed")).to_have_count(0)
    expect(card_title(first)).to_contain_text("Done", timeout=60_000)
    expect(card_title(second)).to_contain_text("Done", timeout=60_000)
    page.close()
    logs = busy_preview.log_path.read_text()
    assert "Traceback" not in logs, logs
