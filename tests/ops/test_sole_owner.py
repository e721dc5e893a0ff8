"""One bot per SQLite file, with real processes.

A second bot refuses in one line; doctor and backup run beside it; a crash frees the file.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


def environment(tmp_path: Path, database: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "METRICS_", "DATABASE_", "PREVIEW_", "FOOTAGE_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        PREVIEW_DATABASE_PATH=str(database),
        DATABASE_PATH=str(database),
        MEDIA_DIR=str(tmp_path / "clips"),
    )
    return env


def start_preview(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "preview", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def until_serving(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if "http://127.0.0.1:" in line:
            return
    process.kill()
    raise AssertionError(f"the preview never printed its URL: {process.communicate()[1][-2000:]}")


def footage_bot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


def test_a_second_bot_on_the_same_file_refuses_and_a_crash_frees_it(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    env = environment(tmp_path, database)
    first = start_preview(tmp_path, env)
    try:
        until_serving(first)

        second = footage_bot(tmp_path, env, "preview", "--port", "0")
        doctor = footage_bot(tmp_path, env, "doctor", "--no-token-needed")
        backup = footage_bot(tmp_path, env, "backup", str(tmp_path / "copy.db"))

        first.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock with the process
        first.wait(timeout=30)
        third = start_preview(tmp_path, env)
        try:
            until_serving(third)
            third.send_signal(signal.SIGTERM)
            _, third_err = third.communicate(timeout=60)
        finally:
            if third.poll() is None:
                third.kill()
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()

    refusal = second.stderr.strip().splitlines()
    assert second.returncode == 1
    assert len(refusal) == 1, second.stderr
    assert str(database) in refusal[0] and f"pid {first.pid}" in refusal[0] and "Traceback" not in second.stderr
    assert "in use" not in doctor.stdout + doctor.stderr and "Traceback" not in doctor.stderr
    assert backup.returncode == 0, backup.stderr
    with closing(sqlite3.connect(tmp_path / "copy.db")) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert third.returncode == 0, third_err
