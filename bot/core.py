"""The core, wired: store, catalog, backends, quotas, queue, runner. No Discord here.

The Discord side, the `render` command, benchmarks and tests all build this same
object with `Core.open(settings, ...)`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bot import metrics
from bot.backends.base import Backend, ExternalWait, await_directly
from bot.backends.registry import build_backends, load_catalog
from bot.clock import Clock, utc_now
from bot.guilds import PAUSED_EVERYWHERE, GuildConfigService
from bot.health_server import ready_when
from bot.jobs.clip_retention import ClipJanitor
from bot.jobs.delivery import Deliverer
from bot.jobs.events import EventBus
from bot.jobs.job_log import log_job_end
from bot.jobs.leases import LeasedRunner, WorkerIdentity
from bot.jobs.remote import GatewayRunner
from bot.jobs.runner import Runner
from bot.jobs.scheduler import FairQueue, RunTimes
from bot.jobs.service import JobService
from bot.media.disk_guard import DiskGuard
from bot.media.encoder import EncoderLimits, EncodeSlots
from bot.media.input_image import Download
from bot.models import ModelCatalog
from bot.quotas.service import QuotaService
from bot.quotas.tiers import default_tier
from bot.reports import ReportService
from bot.settings import Settings
from bot.store.opening import configured_url, open_store
from bot.store.store import Store
from bot.store.urls import sqlite_path, sqlite_url, store_kind

log = logging.getLogger(__name__)


class Core:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalog: ModelCatalog,
        backends: Mapping[str, Backend],
        run_times: RunTimes,
        clock: Clock,
        wait: ExternalWait,
        worker: WorkerIdentity | None = None,
        gateway: bool = False,
        *,
        database_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.backends = backends
        self.events = EventBus()
        self.events.subscribe(log_job_end)
        tier = default_tier(settings)
        self.queue = FairQueue()
        # The database's folder counts when the database is a local file (SQLite).
        places = {"clips": settings.media_dir} | ({"database": database_file.parent} if database_file else {})
        self.disk = DiskGuard(
            places,
            settings.disk_min_free_bytes,
            wait=wait,
            on_change=self._disk_changed,
        )
        self.quotas = QuotaService(store, tier, clock, catalog.currency)
        self.guilds = GuildConfigService(store, catalog, tier)
        self.reports = ReportService(store, clock, catalog.currency)
        self.encode_slots = EncodeSlots(EncoderLimits.from_settings(settings))
        self.jobs = JobService(
            store, catalog, self.quotas, self.queue, self.events, clock, prompt_max_chars=settings.prompt_max_chars
        )
        runner_args = (store, self.queue, catalog, backends, self.events, run_times, clock)
        runner_options: dict[str, Any] = {
            "media_dir": settings.media_dir,
            "guild_max_running": settings.guild_max_running,
            "job_timeout": settings.job_timeout_seconds,
            "image_max_bytes": settings.image_max_bytes,
            "encode_slots": self.encode_slots,
            "wait": wait,
            "disk": self.disk,
        }
        # Alone, the runner keeps its own queue; a worker among several claims from the
        # database; a gateway drives nothing and tells the workers.
        self.runner: Runner
        if gateway:
            self.runner = GatewayRunner(*runner_args, **runner_options)
        elif worker is not None:
            self.runner = LeasedRunner(
                *runner_args,
                owner=worker.owner,
                lease_seconds=worker.lease_seconds,
                max_jobs=worker.max_jobs,
                on_workers=worker.on_workers,
                **runner_options,
            )
        else:
            self.runner = Runner(*runner_args, **runner_options)
        self.jobs.attach_dispatcher(self.runner)
        self.guilds.notify_pauses(self.runner)
        self.events.subscribe(metrics.JobTimings().on_job_event)
        self.janitor = ClipJanitor(
            store,
            settings.media_dir,
            clock,
            retention_days=settings.media_retention_days,
            max_bytes=settings.media_max_bytes,
            wait=wait,
        )
        self.events.subscribe(self.janitor.on_job_event)
        self._unwatch: list[Callable[[], None]] = []

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        database_path: Path | None = None,
        clock: Clock = utc_now,
        wait: ExternalWait = await_directly,
        backends: Mapping[str, Backend] | None = None,
        catalog: ModelCatalog | None = None,
        worker: WorkerIdentity | None = None,
        gateway: bool = False,
    ) -> Core:
        catalog = catalog or load_catalog(settings)
        if backends is None:
            backends = build_backends(settings, catalog, wait)
        log.info(
            "video backends: %s; models: %s (default %s)",
            ", ".join(sorted(backends)) or "none",
            ", ".join(catalog.names()),
            catalog.default.name,
        )
        url = sqlite_url(database_path) if database_path else configured_url(settings)
        store = await open_store(url)
        averages = await store.read(lambda tx: tx.model_run_times())
        run_times = RunTimes(averages, _first_estimates(settings, catalog))
        local_file = sqlite_path(url) if store_kind(url) == "sqlite" else None
        return cls(
            settings, store, catalog, backends, run_times, clock, wait, worker, gateway, database_file=local_file
        )

    def attach_deliverer(self, deliverer: Deliverer) -> None:
        self.runner.attach_deliverer(deliverer)

    def attach_image_download(self, download: Download) -> None:
        self.runner.attach_image_download(download)

    async def start(self) -> None:
        """Recover unfinished jobs and start dispatching."""
        await self.runner.start()
        self.janitor.start()
        self._unwatch = [
            metrics.watch_jobs(self.queue.model_counts, self._running_counts),
            ready_when("database", self._database_answers),
        ]

    async def stop_work(self) -> None:
        """The first half of a graceful stop: start no job, stop driving the running ones.

        Provider jobs are left running and are polled again at the next start; the
        database keeps answering (and commits what was handed over) until `close`.
        """
        await self.runner.stop()

    async def close(self) -> None:
        """Stop the runner, then close every backend and the database, even if one of them fails.

        The store must close whatever happens: its connection's worker thread would
        otherwise keep the process from exiting.
        """
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.store.close)
            for backend in self.backends.values():
                stack.push_async_callback(backend.aclose)
            stack.push_async_callback(self.disk.close)
            stack.push_async_callback(self.janitor.close)
            await self.runner.stop()

    def _disk_changed(self, low: bool) -> None:
        """Status messages of the jobs this holds (or releases) say so."""
        for job in (*self.runner.running_jobs(), *self.runner.waiting_front()):
            self.events.publish("progress", job)

    def _running_counts(self) -> Counter[str]:
        return Counter(job.request.model for job in self.runner.running_jobs())

    async def _database_answers(self) -> bool:
        await self.store.read(lambda tx: tx.get_meta(PAUSED_EVERYWHERE))
        return True

    async def meta_get(self, key: str) -> str | None:
        return await self.store.read(lambda tx: tx.get_meta(key))

    async def meta_set(self, key: str, value: str) -> None:
        await self.store.write(lambda tx: tx.set_meta(key, value))


def _first_estimates(settings: Settings, catalog: ModelCatalog) -> dict[str, float]:
    """Run-time guesses until real runs are measured: the demo is quick, hosted models are not."""
    return {
        model.name: model.run_seconds or (3.0 + settings.demo_latency_seconds if model.backend == "demo" else 90.0)
        for model in catalog
    }
