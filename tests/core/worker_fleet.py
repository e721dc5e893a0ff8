"""A gateway in the test process and N real worker processes on one fresh PostgreSQL database.

What the multi-process property tests share: the loopback fal fake and Discord stand-in
living in the test process, the workers' config, the gateway's Core (started), and the
zygote's lives (tests/core/crash_worker.py), all alive and counted in the database
before the test enqueues, so the first wake-up reaches every worker at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bot.core import Core
from bot.domain.jobs import Job, JobRequest, JobState, Origin
from bot.quotas.service import Member
from tests.core.crash_child import CATALOG, CHANNEL, GUILD, MODEL, UPLOAD_LIMIT
from tests.core.crash_servers import CrashFal
from tests.core.crash_worker import WorkerConfig
from tests.core.test_crash_workers import STATUS_MESSAGES, Lives
from tests.discord.rest_stand_in import DiscordRestStandIn
from tests.postgres_cluster import PostgresCluster

START_TIMEOUT = 120.0


@dataclass
class Fleet:
    url: str
    config: WorkerConfig
    gateway: Core
    lives: Lives
    provider: CrashFal
    enqueued: int = 0

    async def enqueue(self, member: int, seconds: int, prompt: str) -> Job:
        """One job as a gateway's answer makes it: enqueued, then given a status message for the workers to edit."""
        request = JobRequest(prompt=prompt, model=MODEL, seconds=seconds, aspect="16:9")
        queued = await self.gateway.jobs.enqueue(Origin(GUILD, CHANNEL, member, UPLOAD_LIMIT), request, Member(member))
        await self.gateway.jobs.attach_status(queued.job.id, CHANNEL, STATUS_MESSAGES + self.enqueued)
        self.enqueued += 1
        return queued.job

    async def stored(self) -> list[Job]:
        return await self.gateway.store.read(lambda tx: tx.jobs_in_states(list(JobState)))


def live_workers(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT COUNT(*) FROM workers").fetchone()
    return int(row[0]) if row else 0


@asynccontextmanager
async def worker_fleet(
    cluster: PostgresCluster, folder: Path, clip: Path, *, workers: int, max_jobs: int, seed: int
) -> AsyncIterator[Fleet]:
    url = cluster.new_database(folder.name)
    provider = CrashFal(clip.read_bytes(), random.Random(seed))
    discord_api = DiscordRestStandIn(answer_delay=0.02)
    await provider.start()
    await discord_api.start()
    catalog = folder / "footage.toml"
    catalog.write_text(CATALOG, encoding="utf-8")
    config = WorkerConfig(
        database_url=url, media_dir=str(folder / "clips"), catalog=str(catalog), provider_url=provider.base_url,
        discord_api=discord_api.api_base, lease_seconds=30.0, max_jobs=max_jobs,
    )  # fmt: skip
    config.save(folder / "workers.json")
    gateway = await Core.open(config.settings(), gateway=True)
    lives: Lives | None = None
    try:
        await gateway.start()
        lives = await Lives.start(folder / "workers.json")
        for _ in range(workers):
            await lives.spawn()
        started = time.monotonic()
        while (alive := await asyncio.to_thread(live_workers, url)) < workers:
            assert time.monotonic() - started < START_TIMEOUT, f"only {alive} workers started"
            await asyncio.sleep(0.05)
        yield Fleet(url, config, gateway, lives, provider)
    finally:
        if lives is not None:
            await lives.close()
        await gateway.close()
        await discord_api.stop()
        await provider.stop()
        cluster.drop_database(url)
