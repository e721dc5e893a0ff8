"""SIGKILL worker processes at random, over and over, on one PostgreSQL database: nothing lost or doubled.

A gateway-like enqueuer (the real Core with a GatewayRunner, in this process) puts
prompts in; three worker processes (tests/core/crash_worker.py: the real
`run_worker`) claim and drive them against the loopback fal fake and a loopback
stand-in for Discord's REST API that enforces nonces, both living here so they
outlast every kill. At least fifty times the test SIGKILLs a random worker at a
random moment and starts a new one in its place; then the last three finish the
work. From the final state:

- every prompt is exactly one job, and every job finished: delivered, or failed
  SUBMIT_INTERRUPTED (killed inside a submit to a backend without idempotency keys);
- no prompt reached the provider twice, and each delivered job polled the provider
  job its one submit created;
- exactly the delivered jobs have a message, one each, the one their row records;
- the ledger holds: the doctor's check, and each job's rows;
- each job a killed worker held was taken over within LEASE_SECONDS of the kill.

The seed is printed (CRASH_SEED replays it); the machine's speed still moves where
each kill lands, so the assertions are about the final state and the takeover times.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from pydantic import SecretStr

from bot.commands.doctor import check_ledger
from bot.core import Core
from bot.domain.jobs import JobState
from bot.settings import Settings
from tests.child_process import LINE_TIMEOUT, read_words, send_line, start_child
from tests.core.crash_child import CATALOG, CHANNEL, enqueue_missing
from tests.core.crash_servers import CrashFal
from tests.core.crash_worker import WorkerConfig
from tests.core.test_crash_recovery import Batch, JobRow, expected_ledger
from tests.discord.rest_stand_in import DiscordRestStandIn

WORKERS = 3
KILLS = 50
KILL_EVERY = (0.05, 0.5)  # seconds between two kills
LEASE_SECONDS = 8.0
FIRST_BATCH = 12
WAVE = 6
LOW_WATER = 10  # while killing, keep at least this many prompts unfinished so kills land on work
FINAL_TIMEOUT = 120.0
STATUS_MESSAGES = 5_000_000


@dataclass
class Lives:
    """The zygote's report: which lives run, which were killed when, who claimed and took over what."""

    process: asyncio.subprocess.Process
    running: set[int] = field(default_factory=set)
    killed_at: dict[int, float] = field(default_factory=dict)
    codes: dict[int, int] = field(default_factory=dict)
    takeovers: list[tuple[float, str]] = field(default_factory=list)  # (when, the worker it came from)
    claimed_by: dict[str, int] = field(default_factory=dict)  # job id -> the life that claimed it
    _spawned: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, config: Path) -> Lives:
        lives = cls(await start_child("tests.core.crash_worker", str(config)))
        assert (await read_words(lives.process))[0] == "zygote"
        lives._reader = asyncio.create_task(lives._read())
        return lives

    async def _read(self) -> None:
        while words := await read_words(self.process):
            match words:
                case ["spawned", pid]:
                    self.running.add(int(pid))
                    self._spawned.put_nowait(int(pid))
                case ["exited", pid, code]:
                    self.running.discard(int(pid))
                    self.codes[int(pid)] = int(code)
                case ["took", _, at, _, previous]:
                    self.takeovers.append((float(at), previous))
                case ["claimed", pid, _, job_id]:
                    self.claimed_by[job_id] = int(pid)

    async def spawn(self) -> int:
        await send_line(self.process, "spawn")
        return await asyncio.wait_for(self._spawned.get(), LINE_TIMEOUT)

    def kill(self, pid: int) -> None:
        self.killed_at[pid] = time.time()
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    async def close(self) -> None:
        """End of input: the zygote stops every life with SIGTERM and waits for them."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30.0)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    def takeover_delays(self) -> tuple[list[float], int]:
        """Seconds from each kill to each takeover of a job the killed life held; and takeovers from the living."""
        delays: list[float] = []
        from_living = 0
        for at, previous in self.takeovers:
            pid = int(previous.split(":")[1]) if previous.count(":") == 2 else None  # host:pid:random
            if pid in self.killed_at:
                delays.append(at - self.killed_at[pid])
            else:
                from_living += 1  # given up by a life stopping cleanly, or lost by one that stalled
        return delays, from_living


async def unfinished(core: Core, prompts: list[str]) -> int:
    jobs = await core.store.read(lambda tx: tx.jobs_in_states(list(JobState)))
    done = {job.request.prompt for job in jobs if job.state.finished}
    return len(set(prompts) - done)


async def enqueue(core: Core, batch: Batch) -> None:
    """Each new job gets a status message, as a gateway's answer would, for the workers to edit."""
    before = {job.id for job in await core.store.read(lambda tx: tx.jobs_in_states(list(JobState)))}
    await enqueue_missing(core, batch.prompts)
    for job in await core.store.read(lambda tx: tx.jobs_in_states([JobState.QUEUED])):
        if job.id not in before:
            await core.jobs.attach_status(job.id, CHANNEL, STATUS_MESSAGES + len(before))
            before.add(job.id)


async def finish(core: Core, prompts: list[str]) -> int:
    """Wait for the living workers to finish every prompt; how many are left at FINAL_TIMEOUT."""
    deadline = time.monotonic() + FINAL_TIMEOUT
    left = await unfinished(core, prompts)
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        left = await unfinished(core, prompts)
    return left


def final_rows(url: str) -> tuple[list[JobRow], dict[str, list[tuple[str, int, int]]]]:
    with psycopg.connect(url) as db:
        jobs = [JobRow(*row) for row in db.execute(f"SELECT {', '.join(JobRow._fields)} FROM jobs ORDER BY seq")]
        entries = db.execute("SELECT job_id, entry, seconds, jobs FROM ledger ORDER BY id").fetchall()
    ledger: dict[str, list[tuple[str, int, int]]] = {job.id: [] for job in jobs}
    for job_id, entry, seconds, count in entries:
        ledger[job_id].append((entry, seconds, count))
    return jobs, ledger


async def test_killed_workers_lose_nothing_and_double_nothing(
    postgres_url: str, tmp_path: Path, small_clip: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"worker crash test seed {seed} (replay with CRASH_SEED={seed})")
    rng = random.Random(seed)
    provider = CrashFal(small_clip.read_bytes(), random.Random(rng.random()))
    discord_api = DiscordRestStandIn(answer_delay=0.02)
    began = time.monotonic()
    await provider.start()
    await discord_api.start()
    catalog = tmp_path / "footage.toml"
    catalog.write_text(CATALOG, encoding="utf-8")
    config = WorkerConfig(
        database_url=postgres_url, media_dir=str(tmp_path / "clips"), catalog=str(catalog),
        provider_url=provider.base_url, discord_api=discord_api.api_base, lease_seconds=LEASE_SECONDS, max_jobs=4,
    )  # fmt: skip
    config_path = tmp_path / "workers.json"
    config.save(config_path)
    batch = Batch(tmp_path / "prompts.txt")
    gateway = await Core.open(config.settings(), gateway=True)
    lives: Lives | None = None
    try:
        await gateway.start()
        batch.add(FIRST_BATCH)
        await enqueue(gateway, batch)
        lives = await Lives.start(config_path)
        for _ in range(WORKERS):
            await lives.spawn()
        while len(lives.killed_at) < KILLS:
            if await unfinished(gateway, batch.prompts) < LOW_WATER:
                batch.add(WAVE)
                await enqueue(gateway, batch)
            await asyncio.sleep(rng.uniform(*KILL_EVERY))
            lives.kill(rng.choice(sorted(lives.running)))
            await lives.spawn()
        killing = time.monotonic() - began
        left = await finish(gateway, batch.prompts)
        assert not left, f"{left} prompts unfinished {FINAL_TIMEOUT} s after the last kill (seed {seed})"
        await lives.close()
        check = await asyncio.to_thread(check_ledger, Settings(_env_file=None, database_url=SecretStr(postgres_url)))
    finally:
        if lives is not None and lives.process.returncode is None:
            await lives.close()
        await gateway.close()
        await discord_api.stop()
        await provider.stop()
    jobs, ledger = final_rows(postgres_url)

    ends = Counter((job.state, job.failure) for job in jobs)
    delays, from_living = lives.takeover_delays()
    posts_by_nonce: defaultdict[str, set[int]] = defaultdict(set)
    for nonce, message_id, _ in discord_api.posts:
        posts_by_nonce[str(nonce)].add(message_id)
    print(
        f"{len(lives.killed_at)} kills in {killing:.1f} s, {time.monotonic() - began:.1f} s in all; {len(jobs)} jobs; "
        f"end states {dict(ends)}"
    )
    print(
        f"takeovers after a kill: {len(delays)}, slowest {max(delays, default=0):.2f} s "
        f"(lease {LEASE_SECONDS} s); handed over by a living worker: {from_living}"
    )
    print(
        f"provider: {provider.accepted_submits} submits; Discord: {len(discord_api.posts)} posts, "
        f"{sum(not new for _, _, new in discord_api.posts)} answered from the nonce"
    )

    assert sorted(job.prompt for job in jobs) == sorted(batch.prompts), f"seed {seed}"
    assert set(ends) <= {("delivered", None), ("failed", "submit_interrupted")}, f"{dict(ends)} (seed {seed})"
    delivered = {job.id for job in jobs if job.state == "delivered"}
    assert delivered, f"no job was delivered (seed {seed})"

    twice = {prompt: count for prompt, count in provider.submits.items() if count > 1}
    assert not twice, f"submitted more than once: {twice} (seed {seed})"
    for job in jobs:
        if job.id in delivered:
            assert provider.request_ids[job.prompt] == [job.backend_job_id], f"{job} (seed {seed})"

    posted = {nonce.removeprefix("footage-"): ids for nonce, ids in posts_by_nonce.items()}
    assert set(posted) == delivered, f"posted {set(posted) ^ delivered} wrongly (seed {seed})"
    for job in jobs:
        if job.id in delivered:
            assert posted[job.id] == {job.result_message_id}, f"{job} posted as {posted[job.id]} (seed {seed})"

    assert check.ok, f"{check.detail} (seed {seed})"
    for job in jobs:
        assert ledger[job.id] == expected_ledger(job), f"{job}: ledger {ledger[job.id]} (seed {seed})"

    assert delays, f"no kill caught a worker holding a job (seed {seed})"
    assert max(delays) <= LEASE_SECONDS, f"a takeover came {max(delays):.2f} s after its kill (seed {seed})"
    assert all(code in (0, -signal.SIGKILL) for code in lives.codes.values()), f"{lives.codes} (seed {seed})"
