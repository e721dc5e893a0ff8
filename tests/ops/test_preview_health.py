"""`footage-bot preview` with METRICS_PORT: readiness and metrics over HTTP from the real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_preview_serves_readiness_and_metrics(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "METRICS_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PREVIEW_DATABASE_PATH=str(tmp_path / "preview.db"),
        MEDIA_DIR=str(tmp_path / "clips"),
        METRICS_PORT=str(port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "preview", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=10)
            except httpx.TransportError:
                ready = None  # not listening yet
            if ready is not None and ready.status_code == 200:
                break
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, ready.text if ready else "never answered"
        assert ready.json() == {"ready": True}
        live = httpx.get(f"{base}/livez", timeout=10)
        scraped = httpx.get(f"{base}/metrics", timeout=10)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert live.status_code == 200
    assert "footage_jobs_waiting" in scraped.text and "footage_interaction_ack_seconds_bucket" in scraped.text
    assert process.returncode == 0, err
    assert "Traceback" not in err
