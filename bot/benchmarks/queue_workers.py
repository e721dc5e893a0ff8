"""`bench queue --workers N`: the same lifecycles, driven by N worker processes beside the enqueuer.

This process is the gateway: it enqueues (a Core with a GatewayRunner) and drives
nothing. Each worker is `python -m bot.benchmarks.queue_workers CONFIG`: a Core with
a LeasedRunner on the same PostgreSQL database, with the instant backend and a
deliverer that posts nothing, both counting per job, so the run also shows that no
job was lost, none submitted twice and none posted twice. A worker says `ready`
once its Core is open, `delivered N` as its count grows, and, when its input
closes, one line of JSON: how often it submitted and posted each job.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.core import Core
from bot.domain.jobs import JobRequest, JobState, Origin
from bot.jobs.leases import CONTROL_CHANNEL, WAKE_CHANNEL, LeasedRunner, WorkerIdentity, worker_name
from bot.media.probe import probe_video
from bot.quotas import ledger
from bot.quotas.service import Member
from bot.settings import Settings

REPORT_SECONDS = 0.1
REPORT_LINE_LIMIT = 64 << 20  # the last line names every job the worker drove
LINE_TIMEOUT = 120.0
FINISH_TIMEOUT = 900.0
WORKER_JOBS = 256  # jobs one bench worker drives at once: the instant backend makes each one short


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    database_url: str
    media_dir: str
    clip: str

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> WorkerConfig:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


class Worker:
    """One worker process, as the enqueuer sees it."""

    def __init__(self, process: asyncio.subprocess.Process, on_delivered: Callable[[], None]) -> None:
        self.process = process
        self._on_delivered = on_delivered
        self.delivered = 0
        self.report: dict[str, dict[str, int]] = {}
        self._reading: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, config: Path, on_delivered: Callable[[], None]) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.benchmarks.queue_workers", str(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=REPORT_LINE_LIMIT,
        )  # fmt: skip
        worker = cls(process, on_delivered)
        if await worker._line() != "ready":
            raise RuntimeError(f"a bench worker did not start (exit {process.returncode}); see its error above")
        worker._reading = asyncio.create_task(worker._read())
        return worker

    async def _line(self) -> str:
        assert self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), LINE_TIMEOUT)).decode().strip()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().strip()
            if line.startswith("delivered "):
                self.delivered = int(line.split()[1])
                self._on_delivered()
            elif line.startswith("{"):
                self.report = json.loads(line)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), LINE_TIMEOUT)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            if self._reading is not None:
                await asyncio.gather(self._reading, return_exceptions=True)


async def measure(args: argparse.Namespace, settings: Settings, folder: Path, clip: Path) -> dict[str, object]:
    """Enqueue `args.jobs` here while `args.workers` processes drive them; the figures, as `_measure`'s."""
    from bot.benchmarks import queue as bench

    core = await Core.open(settings, backends={}, catalog=bench.catalog(), gateway=True)
    config = folder / "worker.json"
    assert settings.database_url is not None
    WorkerConfig(settings.database_url.get_secret_value(), str(settings.media_dir), str(clip)).save(config)
    workers: list[Worker] = []
    try:
        await core.start()
        all_delivered = asyncio.Event()

        def on_delivered() -> None:
            if sum(worker.delivered for worker in workers) >= args.jobs:
                all_delivered.set()

        workers = list(await asyncio.gather(*(Worker.start(config, on_delivered) for _ in range(args.workers))))
        enqueue_ms: list[float] = []
        batches_before = core.store.batches
        started = time.perf_counter()

        async def command(index: int) -> None:
            user = index % args.users + 1
            before = time.perf_counter()
            await core.jobs.enqueue(
                Origin(bench.MEASURED_GUILD, 1, user, bench.UPLOAD_LIMIT),
                JobRequest(f"clip {index}", bench.MODEL, 4, "16:9"),
                Member(user),
            )
            enqueue_ms.append((time.perf_counter() - before) * 1000)

        await bench.run_commands(args.jobs, args.in_flight, command)
        with contextlib.suppress(TimeoutError):  # what is not delivered by then counts as lost
            await asyncio.wait_for(all_delivered.wait(), FINISH_TIMEOUT)
        elapsed = time.perf_counter() - started
        batches = core.store.batches - batches_before
        for worker in workers:
            await worker.stop()
        workers_left, workers = workers, []
        jobs = await core.store.read(lambda tx: tx.jobs_in_states(list(JobState)))
        mismatches = await core.store.read(ledger.mismatches)
    finally:
        for worker in workers:
            await worker.stop()
        await core.close()
    if mismatches:
        raise RuntimeError(f"the quota ledger disagrees with the jobs after the run: {mismatches[:3]}")
    submits: Counter[str] = Counter()
    posts: Counter[str] = Counter()
    for worker in workers_left:
        submits.update(worker.report.get("submits", {}))
        posts.update(worker.report.get("posts", {}))
    measured = [job for job in jobs if job.guild_id == bench.MEASURED_GUILD]
    lost = sum(1 for job in measured if job.state is not JobState.DELIVERED)
    double_submits = sum(count - 1 for count in submits.values() if count > 1)
    double_posts = sum(count - 1 for count in posts.values() if count > 1)
    jobs_per_s = (len(measured) - lost) / elapsed
    print(
        f"{args.jobs} jobs, {args.users} users, {args.workers} worker processes: "
        f"{elapsed:.2f} s, {jobs_per_s:.0f} jobs/s"
    )
    print(f"enqueue p50 {statistics.median(enqueue_ms):.3f} ms, p99 {bench.percentile(enqueue_ms, 0.99):.3f} ms")
    print(f"lost {lost}, submitted twice {double_submits}, posted twice {double_posts}")
    print(f"database ({core.store.kind}): the enqueuer's {batches} batches; each worker commits its own")
    return {
        "store": core.store.kind,
        "workers": args.workers,
        "jobs": args.jobs,
        "users": args.users,
        "queued": args.queued,
        "spending_budget": args.spending_budget,
        "jobs_per_s": round(jobs_per_s, 1),
        "enqueue_p50_ms": round(statistics.median(enqueue_ms), 3),
        "enqueue_p99_ms": round(bench.percentile(enqueue_ms, 0.99), 3),
        "lost_jobs": lost,
        "double_submits": double_submits,
        "double_posts": double_posts,
        "db_batches": batches,
    }


def _say(line: str) -> None:
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


async def work(config: WorkerConfig) -> None:
    """One bench worker until its input closes."""
    from bot.benchmarks import queue as bench

    settings = bench.bench_settings(Settings(_env_file=None), SecretStr(config.database_url), Path(config.media_dir))
    backend = bench.InstantBackend(Path(config.clip), probe_video(Path(config.clip)))
    deliverer = bench.CountingDeliverer(expected=0)
    identity = WorkerIdentity(worker_name(), settings.lease_seconds, WORKER_JOBS)
    core = await Core.open(settings, backends={backend.name: backend}, catalog=bench.catalog(), worker=identity)
    core.attach_deliverer(deliverer)
    runner = core.runner
    assert isinstance(runner, LeasedRunner)
    listening = asyncio.create_task(
        core.store.listen((WAKE_CHANNEL, CONTROL_CHANNEL), lambda channel, payload: runner.wake())
    )
    try:
        await core.start()
        _say("ready")
        closed = asyncio.create_task(asyncio.to_thread(sys.stdin.read))
        reported = -1
        while not closed.done():
            if (delivered := sum(deliverer.posts.values())) != reported:
                reported = delivered
                _say(f"delivered {reported}")
            await asyncio.wait({closed}, timeout=REPORT_SECONDS)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await core.close()
    _say(json.dumps({"submits": dict(backend.submits), "posts": dict(deliverer.posts)}))


if __name__ == "__main__":
    asyncio.run(work(WorkerConfig.load(Path(sys.argv[1]))))
