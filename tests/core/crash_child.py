"""The process the crash test kills: the real Core on a SQLite file, talking to loopback fakes.

`python -m tests.core.crash_child CONFIG.json` is one life of the bot: it opens the
Core on the configured database, starts the runner (which recovers whatever the
last life left), enqueues each prompt of the batch file that is not a job yet, and
exits 0 once every prompt is a finished job. It may be SIGKILLed anywhere.

With `--zygote` it imports everything once and forks a fresh life for each `spawn`
line on stdin, reporting `spawned PID` and `exited PID CODE` on stdout (each life
says `ready PID` once its Core is open). Fifty restarts then cost milliseconds each
instead of a second of imports. Nothing is shared between lives but the modules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.core import Core
from bot.domain.jobs import FailureReason, Job, JobRequest, JobState, Origin
from bot.jobs import polling
from bot.jobs.delivery import Clip, Delivered, DeliveryOutcome, Undeliverable
from bot.quotas.service import Member
from bot.settings import Settings
from tests.backends.servers.fal import KEY
from tests.child_process import JsonConfig, say

MODEL = "crash"
GUILD = 10
CHANNEL = 20
UPLOAD_LIMIT = 10 * 1024 * 1024
USERS = 4
# Polls aim at the model's run time, then come every DENSE_GAP; the fake's jobs take well under a second.
POLL_SECONDS = 0.03
CATALOG = f"""
[models.{MODEL}]
backend = "fal"
provider_model = "fal-ai/wan/v2.2-5b/text-to-video"
durations = [2, 4]
aspects = ["16:9"]
max_concurrency = 4
cost_per_second = 0.05
run_seconds = 0.05
"""


@dataclass(frozen=True, slots=True)
class CrashConfig(JsonConfig):
    """Everything one life needs, written as JSON by the test."""

    database: str
    media_dir: str
    catalog: str
    prompts: str  # one prompt per line; the test appends, lives only read
    provider_url: str
    board_url: str

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,
            database_path=Path(self.database),
            media_dir=Path(self.media_dir),
            footage_config=Path(self.catalog),
            fal_key=SecretStr(KEY),
            fal_queue_url=self.provider_url,
            default_daily_seconds=100_000,
            default_monthly_seconds=1_000_000,
            default_max_running=2,
            default_max_queued=1000,
            guild_max_running=4,
        )


def user_of(index: int) -> int:
    return 1 + index % USERS


def seconds_of(index: int) -> int:
    return 2 if index % 3 else 4


def read_prompts(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


class BoardDeliverer:
    """Posts like the Discord deliverer: never again once a message id is stored, and under a stable nonce."""

    def __init__(self, board_url: str) -> None:
        self._client = httpx.AsyncClient(base_url=board_url, timeout=5.0)

    async def deliver(self, job: Job, clip: Clip) -> DeliveryOutcome:
        if job.result_message_id is not None:
            return Delivered(job.result_message_id)
        try:
            response = await self._client.post(
                f"/channels/{job.origin.channel_id}/messages",
                json={
                    "nonce": f"footage-{job.id}",
                    "job_id": job.id,
                    "life": os.getpid(),
                    "content": f"your clip {job.id} is ready",
                },
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            return Undeliverable(FailureReason.COULD_NOT_DELIVER, str(error))
        return Delivered(int(response.json()["id"]))

    async def aclose(self) -> None:
        await self._client.aclose()


async def enqueue_missing(core: Core, prompts: list[str]) -> None:
    """Each enqueue is one transaction, so a prompt is either a job or not: look, then add the rest."""
    known = {job.request.prompt for job in await core.store.read(lambda tx: tx.jobs_in_states(list(JobState)))}
    for index, prompt in enumerate(prompts):
        if prompt in known:
            continue
        user = user_of(index)
        request = JobRequest(prompt=prompt, model=MODEL, seconds=seconds_of(index), aspect="16:9")
        await core.jobs.enqueue(Origin(GUILD, CHANNEL, user, UPLOAD_LIMIT), request, Member(user))


async def until_finished(core: Core, prompts: list[str]) -> None:
    wanted = set(prompts)
    while True:
        jobs = await core.store.read(lambda tx: tx.jobs_in_states(list(JobState)))
        if wanted <= {job.request.prompt for job in jobs if job.state.finished}:
            return
        await asyncio.sleep(0.05)


async def live(config: CrashConfig) -> int:
    # Loudly, if polling renames it: silently polling every half second would only make the test crawl.
    assert hasattr(polling, "DENSE_GAP")
    polling.DENSE_GAP = POLL_SECONDS
    prompts = read_prompts(Path(config.prompts))
    core = await Core.open(config.settings())
    deliverer = BoardDeliverer(config.board_url)
    try:
        core.attach_deliverer(deliverer)
        say(f"ready {os.getpid()}")
        await core.start()
        await enqueue_missing(core, prompts)
        await until_finished(core, prompts)
    finally:
        await core.close()
        await deliverer.aclose()
    return 0


def run_life(config: CrashConfig) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"crash child {os.getpid()}: %(name)s %(message)s")
    return asyncio.run(live(config))


def zygote(config: CrashConfig) -> None:
    """Fork a fresh life per `spawn`; wait for it (killed or finished) before reading on."""
    # A fork copies only the calling thread: any other thread here would be missing in the child.
    assert threading.active_count() == 1, threading.enumerate()
    say(f"zygote {os.getpid()}")
    for line in sys.stdin:
        if line.strip() != "spawn":
            break
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
        _, status = os.waitpid(pid, 0)
        say(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def main(argv: list[str]) -> int:
    config = CrashConfig.load(Path(argv[-1]))
    if "--zygote" in argv:
        zygote(config)
        return 0
    return run_life(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
