"""Every Prometheus metric the bot exposes, and the small named hooks that feed them.

Other modules call one hook per fact (`provider_error`, `database_batch`, ...) and
know nothing of Prometheus. The metrics live in one process-wide registry, served
by `bot.health_server`. Labels are small closed sets (state, reason, model,
backend, kind, route class): never a guild, user or job id.

Job timings come from the job events the core already publishes (`on_job_event`):
queue wait is measured when a job starts, provider run time when it leaves the
provider, post time from delivering to delivered. Fetch and fit are timed where
the runner calls them (`timed`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, TypeVar

import aiohttp
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.domain.jobs import JobState

if TYPE_CHECKING:
    from bot.jobs.events import JobEvent

T = TypeVar("T")

REGISTRY = CollectorRegistry()

# Seconds. Queue waits and provider runs span seconds to an hour; local steps are shorter.
_LONG = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_LOCAL = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Discord wants an interaction answered within 3 s; most answers take milliseconds.
_ACK = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5)
_BATCH = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)

JOBS_FINISHED = PromCounter(
    "footage_jobs_finished",
    "Jobs that reached a final state; reason is the failure reason (empty unless failed).",
    ["state", "reason"],
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram("footage_queue_wait_seconds", "Time from queued to started.", buckets=_LONG, registry=REGISTRY)
PROVIDER_RUN = Histogram(
    "footage_provider_run_seconds",
    "Time from the provider accepting a job to its result being ready.",
    ["backend"],
    buckets=_LONG,
    registry=REGISTRY,
)
FETCH = Histogram("footage_fetch_seconds", "Downloading a finished clip.", buckets=_LOCAL, registry=REGISTRY)
FIT = Histogram(
    "footage_fit_seconds", "Fitting a clip to the upload limit (probe, re-encode).", buckets=_LOCAL, registry=REGISTRY
)
POST = Histogram("footage_post_seconds", "Posting a clip to Discord.", buckets=_LOCAL, registry=REGISTRY)
# The labelled series a job's events touch, looked up once per label set rather than per job.
_jobs_finished = cache(JOBS_FINISHED.labels)
_provider_run = cache(PROVIDER_RUN.labels)
PROVIDER_ERRORS = PromCounter(
    "footage_provider_request_errors",
    "Provider requests that failed, by backend and kind (each attempt, retried or not).",
    ["backend", "kind"],
    registry=REGISTRY,
)
DISCORD_HTTP_ERRORS = PromCounter(
    "footage_discord_http_errors",
    "Discord REST answers of 400 and above (429 included), by route class and status.",
    ["route", "status"],
    registry=REGISTRY,
)
DISCORD_RATE_LIMITED = PromCounter(
    "footage_discord_rate_limited", "Discord REST answers of 429, by route class.", ["route"], registry=REGISTRY
)
ACK = Histogram(
    "footage_interaction_ack_seconds",
    "Bot time from taking an interaction to sending its first answer.",
    buckets=_ACK,
    registry=REGISTRY,
)
DATABASE_BATCH = Histogram(
    "footage_database_batch_seconds",
    "One group-committed database batch on the database thread, BEGIN to COMMIT.",
    buckets=_BATCH,
    registry=REGISTRY,
)
REENCODES = Gauge(
    "footage_reencodes", "Re-encodes to the upload limit, running or waiting for a slot.", ["state"], registry=REGISTRY
)
for _state in ("running", "waiting"):
    REENCODES.labels(_state)
DISK_FREE = Gauge(
    "footage_disk_free_bytes", "Free bytes where the clips and the database are.", ["place"], registry=REGISTRY
)
DISK_LOW = Gauge(
    "footage_disk_low", "1 while free space is below DISK_MIN_FREE_BYTES: no job starts or fetches.", registry=REGISTRY
)
JOBS_HELD_FOR_DISK = Gauge(
    "footage_jobs_held_for_disk", "Jobs whose clip is ready, waiting for disk space to fetch it.", registry=REGISTRY
)
CLIPS_REMOVED = PromCounter(
    "footage_clips_removed",
    "Files removed from the clips folder: expired (MEDIA_RETENTION_DAYS), over_cap (MEDIA_MAX_BYTES), leftover.",
    ["why"],
    registry=REGISTRY,
)


# Jobs waiting and running, by model, read from the live queues at scrape time.

JobCounts = Callable[[], Mapping[str, int]]
# A scrape reads the counts on the loop that owns the queues; a stuck loop leaves them out.
_READ_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class _JobSource:
    loop: asyncio.AbstractEventLoop
    waiting: JobCounts
    running: JobCounts

    def read(self) -> tuple[Mapping[str, int], Mapping[str, int]] | None:
        answer: concurrent.futures.Future[tuple[Mapping[str, int], Mapping[str, int]]] = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                answer.set_result((dict(self.waiting()), dict(self.running())))
            except Exception as error:
                answer.set_exception(error)

        try:
            self.loop.call_soon_threadsafe(on_loop)
            return answer.result(_READ_TIMEOUT)
        except (RuntimeError, concurrent.futures.TimeoutError):  # the loop is closed or stuck
            return None


class _JobGauges(Collector):
    def __init__(self) -> None:
        self._sources: list[_JobSource] = []

    def watch(self, source: _JobSource) -> Callable[[], None]:
        self._sources.append(source)
        return lambda: self._sources.remove(source)

    def collect(self) -> Iterable[Metric]:
        waiting: Counter[str] = Counter()
        running: Counter[str] = Counter()
        for source in list(self._sources):
            counts = source.read()
            if counts is not None:
                waiting.update(counts[0])
                running.update(counts[1])
        for name, help_text, totals in (
            ("footage_jobs_waiting", "Jobs waiting in the queue, by model.", waiting),
            ("footage_jobs_running", "Jobs started and not finished, by model.", running),
        ):
            family = GaugeMetricFamily(name, help_text, labels=["model"])
            for model, count in sorted(totals.items()):
                family.add_metric([model], count)
            yield family


_JOB_GAUGES = _JobGauges()
REGISTRY.register(_JOB_GAUGES)


def watch_jobs(waiting: JobCounts, running: JobCounts) -> Callable[[], None]:
    """Count the running loop's jobs in the waiting/running gauges until the returned function is called."""
    return _JOB_GAUGES.watch(_JobSource(asyncio.get_running_loop(), waiting, running))


# Job events → final states and stage timings.


class JobTimings:
    """Listens to one core's job events. Holds a start time only for jobs in delivering."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._delivering_since: dict[str, float] = {}

    def on_job_event(self, event: JobEvent) -> None:
        if event.kind != "state":
            return
        job = event.job
        state = job.state
        if state is JobState.SUBMITTING:
            QUEUE_WAIT.observe(max((job.updated_at - job.created_at).total_seconds(), 0.0))
        elif state is JobState.FETCHING and job.started_at is not None:
            _provider_run(job.backend).observe(max((job.updated_at - job.started_at).total_seconds(), 0.0))
        elif state is JobState.DELIVERING:
            self._delivering_since[job.id] = self._clock()
        elif state.finished:
            since = self._delivering_since.pop(job.id, None)
            if state is JobState.DELIVERED and since is not None:
                POST.observe(self._clock() - since)
            _jobs_finished(state.value, job.failure.value if job.failure is not None else "").inc()


async def timed(histogram: Histogram, step: Awaitable[T]) -> T:
    """Await `step`, observing its duration in `histogram` (also when it raises)."""
    started = time.perf_counter()
    try:
        return await step
    finally:
        histogram.observe(time.perf_counter() - started)


# Hooks called from the backends, the store and the media code.


def provider_error(backend: str, kind: str) -> None:
    PROVIDER_ERRORS.labels(backend, kind).inc()


def disk_free(place: str, free_bytes: int) -> None:
    DISK_FREE.labels(place).set(free_bytes)


def disk_low(low: bool) -> None:
    DISK_LOW.set(1 if low else 0)


def clips_removed(why: str, count: int = 1) -> None:
    CLIPS_REMOVED.labels(why).inc(count)


def database_batch(seconds: float) -> None:
    DATABASE_BATCH.observe(seconds)


@contextmanager
def reencode_running() -> Iterator[None]:
    with REENCODES.labels("running").track_inprogress():
        yield


@contextmanager
def reencode_waiting() -> Iterator[None]:
    """Around waiting for a re-encode slot (the re-encode limiter)."""
    with REENCODES.labels("waiting").track_inprogress():
        yield


# Interaction acknowledgement: one measurement for the histogram and `bench ack`.

AckListener = Callable[[float], None]
_ack_listeners: list[AckListener] = []


def listen_to_acks(listener: AckListener) -> Callable[[], None]:
    """Also hand each ack latency (seconds) to `listener`; benchmarks keep the exact samples."""
    _ack_listeners.append(listener)
    return lambda: _ack_listeners.remove(listener)


def interaction_acked(seconds: float) -> None:
    ACK.observe(seconds)
    for listener in list(_ack_listeners):
        listener(seconds)


# Discord REST: status codes by route class, seen on the HTTP session discord.py opens.

_SNOWFLAKE = re.compile(r"^\d{15,22}$")
_ROUTE_CLASSES = (
    ("interactions", "interaction"),
    ("webhooks", "webhook"),
    ("commands", "commands"),
    ("messages", "messages"),
    ("reactions", "messages"),
    ("channels", "channels"),
    ("guilds", "guilds"),
    ("users", "users"),
    ("gateway", "gateway"),
)


def route_class(path: str) -> str:
    """A small closed set of names for Discord API paths (ids and tokens never become labels)."""
    words = {part for part in path.split("/") if part and not _SNOWFLAKE.match(part)}
    for word, name in _ROUTE_CLASSES:
        if word in words:
            return name
    return "other"


def discord_response(path: str, status: int) -> None:
    if status < 400:
        return
    route = route_class(path)
    DISCORD_HTTP_ERRORS.labels(route, str(status)).inc()
    if status == 429:
        DISCORD_RATE_LIMITED.labels(route).inc()


def discord_http_trace() -> aiohttp.TraceConfig:
    """For `discord.Client(http_trace=...)`: every REST answer, including the 429s discord.py retries."""

    async def on_request_end(
        session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        discord_response(params.url.path, params.response.status)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace
