"""`footage-bot run` without a token opens the local preview instead of failing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_without_a_token_opens_the_preview_and_stops_cleanly(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DISCORD_TOKEN"}
    env.update(
        PYTHONPATH=str(ROOT),
        PREVIEW_DATABASE_PATH=str(tmp_path / "preview.db"),
        DATABASE_PATH=str(tmp_path / "production.db"),
        MEDIA_DIR=str(tmp_path / "clips"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,  # no .env here
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if "http://127.0.0.1:" in line:
                url = line.strip()
        assert url is not None, "the preview never printed its URL"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "no DISCORD_TOKEN is set" in err and "discord.com/developers/applications" in err
    assert "Traceback" not in err
    assert (tmp_path / "preview.db").exists() and not (tmp_path / "production.db").exists()
