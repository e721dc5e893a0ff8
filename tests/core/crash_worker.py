"""The worker processes the PostgreSQL crash test kills: the real `footage-bot worker`, on loopback fakes.

`python -m tests.core.crash_worker CONFIG.json` imports everything once, then forks a
fresh worker life for each `spawn` line on stdin and reports `spawned PID`; lives run
side by side, and `exited PID CODE` is reported as each ends (killed or stopped).
Each life is `run_worker` itself: the real Core on PostgreSQL with a LeasedRunner,
the real fal adapter against the test's fake, and the real discord.py client over
REST against the test's stand-in for Discord, which enforces nonces. A life says
what it claimed and took over (`claimed PID TIME JOB`, `took PID TIME JOB FROM`, FROM
being the worker whose lease ran out), so the test can tell how long each takeover came
after the kill of the worker it came from. SIGTERM stops a life
cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import discord
from pydantic import SecretStr

from bot.commands.worker import run_worker
from bot.settings import Settings
from tests.backends.servers.fal import KEY
from tests.child_process import JsonConfig, say


@dataclass(frozen=True, slots=True)
class WorkerConfig(JsonConfig):
    database_url: str
    media_dir: str
    catalog: str
    provider_url: str
    discord_api: str
    lease_seconds: float
    max_jobs: int

    def settings(self) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=SecretStr(self.database_url),
            media_dir=Path(self.media_dir),
            footage_config=Path(self.catalog),
            fal_key=SecretStr(KEY),
            fal_queue_url=self.provider_url,
            discord_token=SecretStr("crash-test-token"),
            lease_seconds=self.lease_seconds,
            worker_max_jobs=self.max_jobs,
            default_daily_seconds=100_000,
            default_monthly_seconds=1_000_000,
            default_max_running=2,
            default_max_queued=1000,
            guild_max_running=6,
        )


class ClaimReporter(logging.Handler):
    """Turns the worker's claim log (its `claimed` and `taken_over` fields) into lines for the test."""

    def emit(self, record: logging.LogRecord) -> None:
        now = time.time()
        for job_id in getattr(record, "claimed", ()):
            say(f"claimed {os.getpid()} {now:.3f} {job_id}")
        for job_id, previous in getattr(record, "taken_over", ()):
            say(f"took {os.getpid()} {now:.3f} {job_id} {previous}")


async def live(config: WorkerConfig) -> int:
    discord.http.Route.BASE = config.discord_api
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_worker(config.settings(), stop, edit_interval=0.05)
    return 0


def run_life(config: WorkerConfig) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"crash worker {os.getpid()}: %(name)s %(message)s")
    claims = logging.getLogger("bot.jobs.leases")
    claims.setLevel(logging.DEBUG)
    claims.addHandler(ClaimReporter())
    return asyncio.run(live(config))


def zygote(config: WorkerConfig) -> None:
    # A fork copies only the calling thread: any other thread here would be missing in the child.
    assert threading.active_count() == 1, threading.enumerate()
    say(f"zygote {os.getpid()}")
    lives: set[int] = set()
    commands = sys.stdin.fileno()
    pending = b""
    open_input = True
    while open_input or lives:
        readable, _, _ = select.select([commands] if open_input else [], [], [], 0.05)
        if readable:
            data = os.read(commands, 4096)
            pending += data
            if not data:  # end of input: stop every life, then wait for them
                open_input = False
                for pid in lives:
                    os.kill(pid, signal.SIGTERM)
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip() == b"spawn":
                lives.add(_spawn(config))
        for pid in list(lives):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                lives.discard(pid)
                say(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def _spawn(config: WorkerConfig) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = run_life(config)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)  # never back into the zygote's loop
    say(f"spawned {pid}")
    return pid


def main(argv: list[str]) -> int:
    zygote(WorkerConfig.load(Path(argv[-1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
