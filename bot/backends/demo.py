"""The built-in demo backend: renders locally in worker processes, no key, no cost.

It behaves like a hosted provider so the queue, status messages and delivery can be
seen at work: with `DEMO_LATENCY_SECONDS` > 0 a job first sits in a simulated
provider queue, then reports progress over that time, and succeeds only once both
the latency has passed and the real render is done.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from bot.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendErrorKind,
    BackendJob,
    ExternalWait,
    FetchedClip,
    GenerationRequest,
    PollResult,
    await_directly,
)
from bot.backends.entry import BackendEntry, BackendSettings, BuildContext, ModelDefaults
from bot.media.demo_render import (
    BadInputImage,
    Container,
    RenderedClip,
    frame_size,
    ignore_interrupts,
    render_demo,
)
from bot.media.probe import NotAVideo, probe_video_async

if TYPE_CHECKING:
    from bot.models import ModelCatalog
    from bot.settings import Settings

MAX_WORKERS = 2
# The simulated queue takes this share of the latency, counting down from this position.
QUEUE_SHARE = 0.25
SIMULATED_QUEUE_LENGTH = 3
# With no simulated latency a render takes about a second; poll often enough to notice.
FAST_POLL_SECONDS = 0.25


def new_render_pool(max_workers: int = MAX_WORKERS) -> ProcessPoolExecutor:
    """Worker processes for `render_demo`. Spawned, not forked: the bot's process has
    threads (aiosqlite, asyncio's executor) that a fork would copy mid-lock."""
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=ignore_interrupts,
    )


CAPABILITIES = BackendCapabilities(
    text_to_video=True,
    image_to_video=True,
    seed=True,
    negative_prompt=True,  # accepted and ignored: the demo draws the prompt only
    cancel=True,
    idempotent_submit=True,  # a resubmit just renders again; nothing is billed
    audio=True,  # a generated tone, when the request asks for sound
    audio_optional=True,
    durations=(2, 4, 6, 8, 10),
    aspects=("16:9", "9:16", "1:1", "4:3"),
)


@dataclass(frozen=True, slots=True)
class _Render:
    prompt: str
    seconds: int
    aspect: str
    seed: int
    image: bytes | None
    audio: bool = False


@dataclass(slots=True)
class _Job:
    future: Future[RenderedClip]
    path: Path
    submitted_at: float
    sequence: int


class DemoBackend:
    name: str = "demo"
    capabilities: BackendCapabilities = CAPABILITIES

    def __init__(
        self,
        workdir: Path,
        *,
        latency: float = 0.0,
        container: Container = "mp4",
        wait: ExternalWait = await_directly,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self._workdir = workdir
        self._latency = latency
        self._container = container
        self._wait = wait
        self._max_workers = max_workers
        self._pool: ProcessPoolExecutor | None = None
        self._jobs: dict[str, _Job] = {}
        self._canceled: set[str] = set()
        self._sequence = 0
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, wait: ExternalWait) -> DemoBackend:
        return cls(
            settings.media_dir / "demo-renders",
            latency=settings.demo_latency_seconds,
            container=settings.demo_format,
            wait=wait,
        )

    async def submit(self, request: GenerationRequest) -> BackendJob:
        # What the store keeps lets a restarted bot render a text-to-video job again.
        data = {
            "prompt": request.prompt,
            "seconds": str(request.seconds),
            "aspect": request.aspect,
            "seed": str(request.seed),
            "image": "yes" if request.image is not None else "no",
            "audio": "yes" if request.audio else "no",
        }
        if request.job_id not in self._jobs:
            image = request.image.data if request.image is not None else None
            render = _Render(request.prompt, request.seconds, request.aspect, request.seed, image, request.audio)
            self._add(request.job_id, render)
        return BackendJob(id=request.job_id, data=data)

    def _add(self, job_id: str, render: _Render) -> None:
        if self._closed:
            raise BackendError(BackendErrorKind.UNAVAILABLE, "the demo renderer is shut down")
        try:
            frame_size(render.aspect)
        except ValueError as error:
            raise BackendError(BackendErrorKind.INVALID_REQUEST, str(error)) from None
        self._workdir.mkdir(parents=True, exist_ok=True)
        path = self._workdir / f"{uuid.uuid4().hex}.{self._container}"
        future = self._start(render, path)
        self._sequence += 1
        self._jobs[job_id] = _Job(future, path, time.monotonic(), self._sequence)
        self._canceled.discard(job_id)

    def _start(self, render: _Render, path: Path) -> Future[RenderedClip]:
        for _ in range(2):
            if self._pool is None:
                self._pool = new_render_pool(self._max_workers)
            try:
                return self._pool.submit(
                    render_demo,
                    path,
                    prompt=render.prompt,
                    seconds=render.seconds,
                    aspect=render.aspect,
                    seed=render.seed,
                    image=render.image,
                    audio=render.audio,
                    container=self._container,
                )
            except BrokenProcessPool:
                # A worker died (killed, out of memory); replace the pool once.
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        raise BackendError(BackendErrorKind.UNAVAILABLE, "the demo render workers keep dying")

    def _revive(self, job: BackendJob) -> bool:
        """Render a job this process never saw (the bot restarted) again from its stored data."""
        data = job.data
        if data.get("image") != "no" or not data.get("prompt"):
            return False  # the input image is not kept, so an image job cannot be redone
        try:
            audio = data.get("audio") == "yes"
            render = _Render(data["prompt"], int(data["seconds"]), data["aspect"], int(data["seed"]), None, audio)
        except (KeyError, ValueError):
            return False
        self._add(job.id, render)
        return True

    async def poll(self, job: BackendJob) -> PollResult:
        if job.id in self._canceled:
            return PollResult(state="canceled")
        if job.id not in self._jobs and not self._revive(job):
            error = BackendError(
                BackendErrorKind.GENERATION_FAILED, f"the demo renderer has no job {job.id} and cannot redo it"
            )
            return PollResult(state="failed", error=error)
        record = self._jobs[job.id]
        future = record.future
        elapsed = time.monotonic() - record.submitted_at
        # A render that failed is reported at once, like a provider refusing bad input.
        failed = future.done() and not future.cancelled() and future.exception() is not None
        if failed or (future.done() and elapsed >= self._latency):
            return self._finished(record)
        if self._latency > 0:
            return self._simulated(record, elapsed)
        if future.running():
            return PollResult(state="running", poll_after=FAST_POLL_SECONDS)
        return PollResult(state="queued", queue_position=self._waiting_ahead(record) + 1, poll_after=FAST_POLL_SECONDS)

    def _finished(self, record: _Job) -> PollResult:
        if record.future.cancelled():
            return PollResult(state="canceled")
        failure = record.future.exception()
        if failure is not None:
            return PollResult(state="failed", error=_classify(failure))
        return PollResult(state="succeeded", progress=1.0)

    def _simulated(self, record: _Job, elapsed: float) -> PollResult:
        poll_after = min(1.0, max(self._latency / 20, FAST_POLL_SECONDS))
        queued_for = self._latency * QUEUE_SHARE
        if elapsed < queued_for:
            left = 1 - elapsed / queued_for
            position = self._waiting_ahead(record) + max(1, round(SIMULATED_QUEUE_LENGTH * left))
            return PollResult(state="queued", queue_position=position, poll_after=poll_after)
        # Never report 100% before the render is really done.
        progress = min((elapsed - queued_for) / (self._latency - queued_for), 0.99)
        return PollResult(state="running", progress=progress, poll_after=poll_after)

    def _waiting_ahead(self, record: _Job) -> int:
        """Earlier jobs still waiting for a worker process."""
        return sum(
            1
            for other in self._jobs.values()
            if other.sequence < record.sequence and not (other.future.running() or other.future.done())
        )

    async def cancel(self, job: BackendJob) -> None:
        # Remembered even for a job this process never saw, so a later poll does not revive it.
        self._canceled.add(job.id)
        record = self._jobs.pop(job.id, None)
        if record is not None:
            _drop(record)

    async def fetch(self, job: BackendJob, result: PollResult, dest: Path, max_bytes: int) -> FetchedClip:
        known = job.id in self._jobs or (job.id not in self._canceled and self._revive(job))
        record = self._jobs[job.id] if known else None
        if record is None or record.future.cancelled():
            raise BackendError(BackendErrorKind.RESULT_EXPIRED, f"the demo renderer has no clip for job {job.id}")
        try:
            rendered: RenderedClip = await self._wait(asyncio.wrap_future(record.future), "demo: render")
        except Exception as failure:
            raise _classify(failure) from None
        size = rendered.path.stat().st_size
        if size > max_bytes:
            raise BackendError(BackendErrorKind.BAD_OUTPUT, f"the clip is {size} bytes, over the {max_bytes} limit")
        dest.parent.mkdir(parents=True, exist_ok=True)
        await self._wait(asyncio.to_thread(shutil.move, rendered.path, dest), "demo: move clip")
        del self._jobs[job.id]
        try:
            info = await self._wait(probe_video_async(dest), "demo: probe clip")
        except NotAVideo as error:
            raise BackendError(BackendErrorKind.BAD_OUTPUT, str(error)) from None
        return FetchedClip(path=dest, info=info, source_url=None)

    async def aclose(self) -> None:
        self._closed = True
        for record in self._jobs.values():
            _drop(record)
        self._jobs.clear()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await self._wait(asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True), "demo: stop workers")


def _drop(record: _Job) -> None:
    record.future.cancel()
    # A render already running cannot be stopped; its file is removed when it ends.
    path = record.path
    record.future.add_done_callback(lambda _: path.unlink(missing_ok=True))


def _classify(failure: BaseException) -> BackendError:
    if isinstance(failure, BackendError):
        return failure
    if isinstance(failure, BadInputImage):
        return BackendError(BackendErrorKind.INVALID_REQUEST, str(failure))
    if isinstance(failure, BrokenProcessPool):
        return BackendError(BackendErrorKind.UNAVAILABLE, "a demo render worker died")
    if isinstance(failure, ValueError):
        return BackendError(BackendErrorKind.INVALID_REQUEST, str(failure))
    return BackendError(BackendErrorKind.GENERATION_FAILED, f"{type(failure).__name__}: {failure}")


class DemoSettings(BackendSettings):
    backend_name: ClassVar[str] = "demo"
    demo_latency_seconds: float = Field(default=0.0, ge=0, le=600)
    # The preview asks for WebM: its browser plays VP9 as it is, but converts every MP4 first.
    demo_format: Container = "mp4"


def _build(context: BuildContext) -> DemoBackend:
    return DemoBackend.from_settings(context.settings, context.wait)


def _provider_model(settings: Settings) -> str:
    return "demo"


def _ready(settings: Settings, catalog: ModelCatalog) -> str:
    return "built in; needs no key"


ENTRY = BackendEntry(
    name="demo",
    settings=DemoSettings,
    capabilities=CAPABILITIES,
    build=_build,
    provider_model=_provider_model,
    defaults=ModelDefaults(
        max_concurrency=2, default_seconds=4, description="Built-in demo renderer (no key, no cost)"
    ),
    ready=_ready,
)
