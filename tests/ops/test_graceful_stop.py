"""SIGTERM to a real bot process mid-download.

It stops in time, leaves the provider job and no half file, and the next start resumes the job.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

from aiohttp import web

from bot.lifecycle import STOP_SECONDS
from tests.backends.servers.fal import FalFake
from tests.discord.simworld import write_clip
from tests.ops.stop_child import CATALOG, StopConfig

ROOT = Path(__file__).resolve().parents[2]
LINE_TIMEOUT = 90.0  # a cold start imports discord.py, SimCord and PyAV on a loaded machine
# What an orchestrator waits between SIGTERM and SIGKILL (Docker's and systemd's default).
ORCHESTRATOR_GRACE = 10.0


class StallingFal(FalFake):
    """fal whose result download sends half the clip and then hangs, until `stall` is turned off."""

    def __init__(self, video: bytes) -> None:
        super().__init__(video)
        self.stall = True
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def send_file(self, request: web.Request, name: str) -> web.StreamResponse:
        if not self.stall:
            return await super().send_file(request, name)
        self.received["download"] += 1
        response = web.StreamResponse(status=200, headers={"Content-Type": "video/mp4"})
        response.content_length = len(self.video)
        await response.prepare(request)
        await response.write(self.video[: len(self.video) // 2])
        self.stalled.set()
        await self.release.wait()
        return response


class Life:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @classmethod
    async def start(cls, config: Path, mode: str) -> Life:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.ops.stop_child",
            str(config),
            mode,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def until(self, *prefixes: str) -> str:
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(LINE_TIMEOUT):
                while True:
                    raw = await self.process.stdout.readline()
                    if not raw:
                        break
                    line = raw.decode().strip()
                    self.lines.append(line)
                    if line.startswith(prefixes):
                        return line
        except TimeoutError:
            self.process.kill()
        _, err = await self.process.communicate()
        raise AssertionError(f"the child never said {prefixes}: {self.lines}\n{err.decode()[-3000:]}")

    async def finish(self) -> tuple[int, str, str]:
        async with asyncio.timeout(LINE_TIMEOUT):
            out, err = await self.process.communicate()
        self.lines.extend(out.decode().splitlines())
        assert self.process.returncode is not None
        return self.process.returncode, "\n".join(self.lines), err.decode()


def stored_state(database: Path, job_id: str) -> str:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        row = connection.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    return str(row[0])


async def test_sigterm_mid_download_stops_in_time_and_the_next_start_resumes(tmp_path: Path) -> None:
    video = write_clip(tmp_path / "clip.mp4").read_bytes()
    fal = StallingFal(video)
    url = await fal.start()
    catalog = tmp_path / "footage.toml"
    catalog.write_text(CATALOG, encoding="utf-8")
    media = tmp_path / "clips"
    config = tmp_path / "config.json"
    StopConfig(str(tmp_path / "footage.db"), str(media), str(catalog), url).save(config)
    try:
        first = await Life.start(config, "start")
        channel = await first.until("channel ")
        job_id = (await first.until("fetching ")).split()[1]
        async with asyncio.timeout(LINE_TIMEOUT):
            await fal.stalled.wait()
        signalled = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        code, out, err = await first.finish()
        took = time.monotonic() - signalled

        assert code == 0, err
        assert "exited" in out and "Traceback" not in err
        assert took < ORCHESTRATOR_GRACE and STOP_SECONDS < ORCHESTRATOR_GRACE
        assert not (media / f"{job_id}.mp4").exists(), "a half-downloaded clip under its final name"
        assert stored_state(tmp_path / "footage.db", job_id) == "running"  # polled again at the next start
        assert fal.received["cancel"] == 0  # the provider job was left alone
        assert fal.accepted_submits == 1

        fal.stall = False
        fal.release.set()
        second = await Life.start(config, "resume")
        assert await second.until("channel ") == channel
        assert await second.until("delivered ", "failed ", "canceled ") == f"delivered {job_id}"
        code, out, err = await second.finish()
    finally:
        fal.release.set()
        await fal.stop()
    assert code == 0, err
    assert fal.accepted_submits == 1  # polled again, never submitted twice
    assert stored_state(tmp_path / "footage.db", job_id) == "delivered"
    assert (media / f"{job_id}.mp4").read_bytes() == video
    assert not (media / f"{job_id}.mp4.part").exists()
