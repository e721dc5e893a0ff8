"""The process the graceful-stop test sends SIGTERM: the real bot (create_bot) inside SimCord, fal at a loopback fake.

`python -m tests.ops.stop_child CONFIG.json start` queues one job and reports
`fetching ID` once its clip download began; `resume` starts on the same database,
reports `delivered ID` when the recovered job is posted, then stops itself the same
way. Both stop through `run_until_stopped` and `FootageBot.stop_gracefully`, as
`footage-bot run` does. The SimCord world is built the same way in both lives, so
the channel has the same id (the world is built before the bot logs in).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import simcord
from pydantic import SecretStr

from bot.discord_glue.app import create_bot
from bot.discord_glue.client import FootageBot
from bot.discord_glue.simcord_host import SimcordWait
from bot.domain.jobs import Job, JobRequest, JobState, Origin
from bot.jobs.events import JobEvent
from bot.lifecycle import run_until_stopped
from bot.quotas.service import Member
from bot.settings import Settings
from tests.backends.servers.fal import KEY
from tests.child_process import JsonConfig, say

MODEL = "stop"
GUILD = 4242
CATALOG = f"""
[models.{MODEL}]
backend = "fal"
provider_model = "fal-ai/wan/v2.2-5b/text-to-video"
durations = [2]
aspects = ["16:9"]
max_concurrency = 1
run_seconds = 0.05
"""


@dataclass(frozen=True, slots=True)
class StopConfig(JsonConfig):
    database: str
    media_dir: str
    catalog: str
    provider_url: str

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,
            database_path=Path(self.database),
            media_dir=Path(self.media_dir),
            footage_config=Path(self.catalog),
            fal_key=SecretStr(KEY),
            fal_queue_url=self.provider_url,
        )


async def life(config: StopConfig, mode: str) -> None:
    wait = SimcordWait()
    bot = create_bot(config.settings(), database_path=Path(config.database), wait=wait)
    assert isinstance(bot, FootageBot)
    env = simcord.Env(bot, settle_timeout=30.0)
    # Built before the bot logs in (as the preview does), so both lives give the channel one id.
    guild = env.create_guild("Stop", id=GUILD)
    channel = guild.create_text_channel("footage")
    member = guild.add_member(env.create_user("asker"))
    say(f"channel {channel.id}")
    wait.env = env
    await env.start()
    services = bot.footage
    assert services is not None

    def finished(job: Job) -> None:
        say(f"{job.state.value} {job.id}")
        # This life ends the way the first was stopped; sent from the loop, so after the handler is in place.
        asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    def on_event(event: JobEvent) -> None:
        if event.kind == "state" and event.job.state is JobState.FETCHING:
            say(f"fetching {event.job.id}")
        if event.kind == "state" and event.job.state.finished:
            finished(event.job)

    services.core.events.subscribe(on_event)
    if mode == "resume":  # SimCord's start settles: the recovered job may be done already
        for job in await services.core.store.read(lambda tx: tx.jobs_in_states(list(JobState))):
            if job.state.finished:
                finished(job)
    if mode == "start":
        origin = Origin(guild.id, channel.id, member.id, 10 * 1024 * 1024)
        request = JobRequest("a lighthouse in fog", MODEL, 2, "16:9")
        await services.core.jobs.enqueue(origin, request, Member(member.id))
    try:
        await run_until_stopped(asyncio.Event().wait(), stop=bot.stop_gracefully)
    finally:
        wait.env = None
        await env.shutdown()
    say("exited")


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format=f"stop child {os.getpid()}: %(name)s %(message)s")
    asyncio.run(life(StopConfig.load(Path(argv[1])), argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
