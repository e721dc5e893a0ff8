"""The runner: starts queued jobs when limits allow and drives each to the end.

A job's life: submitting → running → fetching → delivering → delivered, with
each step a restart needs checkpointed in the store (fetching only where other
processes read it: see `stores_fetching`). After a restart `recover()` picks every job
up from its stored state: a job with a backend id is polled again, never
resubmitted; a job caught inside submit without one is resubmitted only when the
backend takes an idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar, TypeVar

from bot import metrics
from bot.backends.base import (
    Backend,
    BackendError,
    BackendErrorKind,
    BackendJob,
    ExternalWait,
    GenerationRequest,
    PollResult,
)
from bot.clock import Clock, to_epoch
from bot.domain.jobs import ACTIVE_STATES, ClipStep, FailureReason, Job, JobState, WaitingJob
from bot.guilds import PAUSED_EVERYWHERE
from bot.jobs.delivery import Clip, Delivered, Deliverer
from bot.jobs.events import EventBus
from bot.jobs.limits import RunningLimits
from bot.jobs.polling import poll_until_done
from bot.jobs.scheduler import EXACT_POSITIONS, FairQueue, QueueEntry, QueuePlace, RunTimes, place_of
from bot.jobs.submitting import submit_when_allowed
from bot.media.disk_guard import DiskGuard
from bot.media.encoder import EncodeSlots
from bot.media.fit import fit_to_limit, upload_budget
from bot.media.input_image import Download, ImageError, ImageUnavailable, load_image
from bot.media.probe import NotAVideo, VideoInfo, probe_video_async
from bot.models import ModelCatalog
from bot.quotas import ledger
from bot.safe_text import member_reason
from bot.store.store import Store, StoreBusy
from bot.store.transaction import StaleState, Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024
# Waits before writing again to a store that said busy past its own retries, and before a
# failed dispatch pass runs again.
STORE_RETRY_FIRST_SECONDS = 1.0
STORE_RETRY_MAX_SECONDS = 30.0
DISPATCH_RETRY_SECONDS = 2.0
# A job resumed after a restart past its deadline still gets this long: a clip already
# downloaded is posted rather than thrown away.
RESUME_GRACE_SECONDS = 30.0
# Waiting jobs read back per trip at start: few enough that a page costs little memory beside the queue.
RECOVERY_PAGE = 1000
# Waiting jobs read back per trip to tell them the queue is paused or resumed.
ANNOUNCE_PAGE = 500

_REASONS: dict[BackendErrorKind, FailureReason] = {
    BackendErrorKind.RATE_LIMITED: FailureReason.BACKEND_UNAVAILABLE,
    BackendErrorKind.UNAVAILABLE: FailureReason.BACKEND_UNAVAILABLE,
    BackendErrorKind.TIMEOUT: FailureReason.TIMED_OUT,
    BackendErrorKind.INVALID_REQUEST: FailureReason.INVALID_REQUEST,
    BackendErrorKind.AUTH: FailureReason.BACKEND_UNAVAILABLE,
    BackendErrorKind.OUT_OF_CREDIT: FailureReason.OUT_OF_CREDIT,
    BackendErrorKind.CONTENT_POLICY: FailureReason.CONTENT_POLICY,
    BackendErrorKind.MODEL_UNAVAILABLE: FailureReason.BACKEND_UNAVAILABLE,
    BackendErrorKind.RESULT_EXPIRED: FailureReason.RESULT_EXPIRED,
    BackendErrorKind.BAD_OUTPUT: FailureReason.BAD_OUTPUT,
    BackendErrorKind.TOO_LARGE: FailureReason.BAD_OUTPUT,
    BackendErrorKind.BAD_RESPONSE: FailureReason.BACKEND_UNAVAILABLE,
    BackendErrorKind.GENERATION_FAILED: FailureReason.GENERATION_FAILED,
}


def _start_jobs(chosen: list[tuple[QueueEntry, Job | None]], now: float, tx: Tx) -> list[Job | None]:
    """Move the chosen jobs to submitting; each whole as it started, None when it no longer waited.

    A job the queue holds whole is moved as held; any other is read back by the move itself.
    """
    started: list[Job | None] = []
    for entry, held in chosen:
        if held is None:
            started.append(tx.start_job(entry.id, now))
            continue
        try:
            started.append(tx.move_job(held, JobState.SUBMITTING, now))
        except StaleState:  # nothing was written for it: the UPDATE matched no row
            started.append(None)
    return started


def _waiting_page(seq: int, tx: Tx) -> list[WaitingJob]:
    return tx.waiting_after(seq, RECOVERY_PAGE)


def failure_for(error: BackendError) -> FailureReason:
    return _REASONS[error.kind]


@dataclass(frozen=True, slots=True)
class _StoredWork:
    """What the runner reads from the store at start, besides the waiting jobs (`_recover_waiting`)."""

    highest_started_tag: float | None
    active: list[Job]
    paused_guilds: set[int]
    paused: bool

    @classmethod
    def load(cls, tx: Tx) -> _StoredWork:
        return cls(
            highest_started_tag=tx.highest_started_tag(),
            active=tx.jobs_in_states(ACTIVE_STATES),
            paused_guilds=tx.paused_guilds(),
            paused=tx.get_meta(PAUSED_EVERYWHERE) == "1",
        )


@dataclass(frozen=True, slots=True)
class DispatchStats:
    """Time spent choosing jobs (walking the queue, excluding the database), for benchmarks and logs."""

    passes: int = 0
    dispatched: int = 0
    choosing_seconds: float = 0.0

    def add(self, *, dispatched: int, choosing: float) -> DispatchStats:
        return DispatchStats(self.passes + 1, self.dispatched + dispatched, self.choosing_seconds + choosing)

    def since(self, earlier: DispatchStats) -> DispatchStats:
        return DispatchStats(
            self.passes - earlier.passes,
            self.dispatched - earlier.dispatched,
            self.choosing_seconds - earlier.choosing_seconds,
        )

    @property
    def decision_us(self) -> float:
        """Microseconds of choosing per job started."""
        return self.choosing_seconds / max(self.dispatched, 1) * 1e6


class Runner:
    # Whether the step into `fetching` is written to the store. Alone on its database the
    # runner keeps that step in memory and shows it from there (`live`): the write would buy
    # nothing on restart, where a running job is polled again either way. Workers write it,
    # because the gateways answering /show and /queue read their jobs from the store.
    stores_fetching: ClassVar[bool] = False

    def __init__(
        self,
        store: Store,
        queue: FairQueue,
        catalog: ModelCatalog,
        backends: Mapping[str, Backend],
        events: EventBus,
        run_times: RunTimes,
        clock: Clock,
        *,
        media_dir: Path,
        guild_max_running: int,
        job_timeout: float,
        image_max_bytes: int,
        encode_slots: EncodeSlots,
        wait: ExternalWait,
        disk: DiskGuard | None = None,
    ) -> None:
        self._store = store
        self._queue = queue
        self._catalog = catalog
        self._backends = backends
        self._events = events
        self._run_times = run_times
        # Submit to the provider's result, per model (delivery excluded): where polls aim.
        self._provider_times: dict[str, float] = {}
        self._clock = clock
        self._media_dir = media_dir
        self._media_dir_made = False
        self._guild_max_running = guild_max_running
        self._job_timeout = job_timeout
        self._image_max_bytes = image_max_bytes
        self._encode_slots = encode_slots
        self._wait = wait
        self._disk = disk or DiskGuard({}, 0)  # none given: never holds anything
        self._deliverer: Deliverer | None = None
        self._download_image: Download | None = None
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, Job] = {}
        # Jobs canceled by a user: their tasks also cancel at the backend. Shutdown
        # cancels tasks too, but leaves provider jobs running for the next start.
        self._aborting: set[str] = set()
        self.paused_guilds: set[int] = set()
        self.paused = False
        self.stats = DispatchStats()
        # What the waiting jobs were last told about: see `_announce_new_positions`.
        self._announced: tuple[int, int] = (-1, -1)
        self._announced_pauses: tuple[bool, frozenset[int]] = (False, frozenset())
        self._front: dict[str, Job] = {}

    def attach_deliverer(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer

    def attach_image_download(self, download: Download) -> None:
        """How input images at URLs are fetched (the Discord side fetches its attachments itself)."""
        self._download_image = download

    def place(self, job: Job) -> QueuePlace | None:
        paused = self.paused or job.guild_id in self.paused_guilds
        return place_of(self._queue, self._run_times, job.id, self._catalog.parallel_slots, paused=paused)

    def running_jobs(self) -> list[Job]:
        return list(self._running.values())

    # Lifecycle

    async def start(self) -> None:
        await self.recover()
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="footage-runner")

    async def stop(self) -> None:
        tasks = [task for task in (self._loop_task, *self._tasks.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._running.clear()

    def wake(self) -> None:
        self._wake.set()

    def abort(self, job: Job) -> None:
        """Stop driving a canceled job; its task asks the backend to cancel (best effort)."""
        task = self._tasks.get(job.id)
        if task is not None:
            self._aborting.add(job.id)
            task.cancel()

    async def recover(self) -> None:
        stored = await self._store.read(_StoredWork.load)
        self.paused_guilds = stored.paused_guilds
        self.paused = stored.paused
        await self._recover_waiting()
        self._queue.restore_virtual_time(stored.highest_started_tag)
        for job in stored.active:
            await self._resume(job, "restarted during submit")

    async def _recover_waiting(self) -> None:
        """Queue the stored waiting jobs, a page at a time and only the columns the queue keeps.

        A job queued meanwhile is in a later page or already queued (adding twice changes
        nothing); one canceled between its page and here is passed over when it would
        start (its move finds it no longer waiting).
        """
        seq = 0
        while True:
            page = await self._store.read(partial(_waiting_page, seq))
            for waiting in page:
                self._queue.add_waiting(waiting)
            if len(page) < RECOVERY_PAGE:
                return
            seq = page[-1].seq

    async def _resume(self, job: Job, interrupted: str) -> None:
        """Pick up a job some earlier run left active: poll again with its backend id, never resubmit.

        Caught inside submit without an id, it is resubmitted only where the backend takes
        an idempotency key; otherwise it fails with `interrupted` and its quota is released.
        """
        backend = self._backends.get(job.backend)
        if (
            job.state is JobState.SUBMITTING
            and job.backend_job_id is None
            and (backend is None or not backend.capabilities.idempotent_submit)
        ):
            await self._fail(job, FailureReason.SUBMIT_INTERRUPTED, interrupted)
            return
        log.info("resuming job %s from %s", job.id, job.state.value)
        self._launch(job)

    # Dispatch

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._dispatch_ready()
                await self._announce_new_positions()
            except Exception:
                # Nothing else may wake the runner soon (no enqueue, no job finishing): it wakes itself.
                log.exception("dispatch failed; trying again in %g s", DISPATCH_RETRY_SECONDS)
                asyncio.get_running_loop().call_later(DISPATCH_RETRY_SECONDS, self.wake)
            await self._wait(self._wake.wait(), "runner idle: waiting for a job or a free slot")

    async def _dispatch_ready(self) -> None:
        if self.paused or self._disk.hold_dispatch(self.wake):
            return
        mark = time.perf_counter()
        chosen = self._choose()
        choosing = time.perf_counter() - mark
        started: list[Job | None] = []
        try:
            if chosen:
                # One write moves every chosen job to submitting: the jobs start together
                # instead of one database trip apart.
                now = to_epoch(self._clock())
                held = [(entry, self._queue.held(entry.id)) for entry in chosen]
                started = await self._store.write(partial(_start_jobs, held, now))
        finally:
            self.stats = self.stats.add(dispatched=sum(job is not None for job in started), choosing=choosing)
        for entry, moved in zip(chosen, started, strict=True):
            self._queue.dispatched(entry)
            if moved is not None:  # None: canceled while the write was on its way
                self._launch(moved)
                self._events.publish("state", moved)

    def _choose(self) -> list[QueueEntry]:
        """The waiting jobs to start now, in queue order, within every running limit."""
        limits = RunningLimits(self._catalog, self._guild_max_running, self._running.values(), self.paused_guilds)
        chosen: list[QueueEntry] = []
        if not limits.has_free_slot():
            return chosen
        for entry in self._queue.in_order(limits.user_blocked):
            if limits.model_full(entry):
                continue  # this model is full; the user's next job may use another
            chosen.append(entry)
            limits.take(entry)
            if not limits.has_free_slot():
                break  # before the walk looks further: that can mean passing over every user
        return chosen

    async def _announce_new_positions(self) -> None:
        """After the queue, a pause or the run times changed, tell the waiting jobs whose place may show differently.

        Every way a job's shown place changes (a start, a newcomer ahead, a cancel, a
        pause, a new run time) wakes this loop. Behind `EXACT_POSITIONS` a job reads
        "far back" before and after, so only the front can show a move: this tells
        the jobs at the front now and those that were there last time (pushed back
        out of it), and the status side edits only the messages whose text changed.
        A start costs at most EXACT_POSITIONS + 1 edits however long the queue. A
        pause or resume tells every waiting job of the servers it touched, once.
        The queue keeps the front's jobs whole; the others are read back to be told.
        """
        pauses = (self.paused, frozenset(self.paused_guilds))
        if pauses != self._announced_pauses:
            everywhere = pauses[0] != self._announced_pauses[0]
            guilds = pauses[1] ^ self._announced_pauses[1]
            self._announced_pauses = pauses
            touched = [entry.id for entry in self._queue.waiting() if everywhere or entry.guild_id in guilds]
            for start in range(0, len(touched), ANNOUNCE_PAGE):
                for waiting in await self._waiting_jobs(touched[start : start + ANNOUNCE_PAGE]):
                    self._events.publish("progress", waiting)
        signature = (self._queue.changes, self._run_times.revision)
        if signature == self._announced:
            return
        self._announced = signature
        front = await self._waiting_jobs([entry.id for entry in self._queue.first(EXACT_POSITIONS + 1)])
        front_ids = {job.id for job in front}
        pushed_back = [job for job_id, job in self._front.items() if job_id not in front_ids and job_id in self._queue]
        for waiting in (*front, *pushed_back):
            self._events.publish("progress", waiting)
        self._front = {job.id: job for job in front}

    async def _waiting_jobs(self, job_ids: list[str]) -> list[Job]:
        """The jobs named that still wait, whole: as the queue holds them, else read back (then held)."""
        found = {job_id: job for job_id in job_ids if (job := self._queue.held(job_id) or self._front.get(job_id))}
        missing = [job_id for job_id in job_ids if job_id not in found]
        if missing:
            for job in await self._store.read(lambda tx: [tx.get_job(job_id) for job_id in missing]):
                if job is not None and job.state is JobState.QUEUED:
                    found[job.id] = job
                    self._queue.hold(job)
        return [job for job_id in job_ids if (job := found.get(job_id)) is not None and job_id in self._queue]

    def waiting_front(self) -> list[Job]:
        """The waiting jobs last told their place: the front of the queue."""
        return [job for job_id, job in self._front.items() if job_id in self._queue]

    def _launch(self, job: Job) -> None:
        self._running[job.id] = job
        self._tasks[job.id] = asyncio.create_task(self._drive(job), name=f"footage-job-{job.id}")

    # Driving one job

    async def _drive(self, job: Job) -> None:
        backend = self._backends.get(job.backend)
        try:
            if backend is None:
                await self._fail(job, FailureReason.BACKEND_UNAVAILABLE, f"backend {job.backend} is not configured")
                return
            await self._advance_until_deadline(job, backend)
        except asyncio.CancelledError:
            if job.id in self._aborting:
                await self._cancel_at_backend(job.id, backend)
            raise
        except BackendError as error:
            await self._fail_current(job.id, backend, failure_for(error), error.provider_message or error.plain)
        except Exception:
            log.exception("job %s failed inside the bot", job.id)
            await self._fail_current(job.id, None, FailureReason.INTERNAL_ERROR, "internal error")
        finally:
            self._aborting.discard(job.id)
            self._tasks.pop(job.id, None)
            self._running.pop(job.id, None)
            self.wake()

    async def _fail_current(self, job_id: str, backend: Backend | None, reason: FailureReason, detail: str) -> None:
        """Fail the job as stored now (canceling it at the backend if it got there), unless it already ended."""
        current = await self._current(job_id)
        if current is None or current.state.finished:
            return
        if backend is not None and current.backend_job_id:
            await self._cancel_at_backend(job_id, backend)
        await self._fail(current, reason, detail)

    async def _advance_until_deadline(self, job: Job, backend: Backend) -> None:
        """`_advance`, stopped by the wall clock at the job's deadline (submit, poll, download, fit, post).

        The deadline runs from when the provider took the job (`started_at`), or from now
        for a job still to be submitted; a timed-out job then fails like any provider timeout.
        """
        elapsed = (self._clock() - job.started_at).total_seconds() if job.started_at is not None else 0.0
        limit = max(self._job_timeout - elapsed, min(RESUME_GRACE_SECONDS, self._job_timeout))
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                await self._advance(job, backend)
        except TimeoutError:
            if not timer.expired():
                raise
            raise BackendError(
                BackendErrorKind.TIMEOUT, f"the job passed its {self._job_timeout:g}-second limit"
            ) from None

    async def _advance(self, job: Job, backend: Backend) -> Job | None:
        """Run the job from its current state to the end. None when it stopped early."""
        current: Job | None = job
        result: PollResult | None = None
        if current is not None and current.state is JobState.SUBMITTING:
            current = await self._submit(current, backend)
        fetched: tuple[Path, VideoInfo] | None = None  # the clip and its probe, when this run fetched it
        if current is not None and current.state in (JobState.RUNNING, JobState.FETCHING):
            result = await self._poll(current, backend)
            if result.state != "succeeded":
                error = result.error or BackendError(
                    BackendErrorKind.GENERATION_FAILED, f"provider says {result.state}"
                )
                raise error
            if current.state is JobState.RUNNING and self.stores_fetching:
                current = await self._move(current, JobState.FETCHING, result_url=result.result_url)
            if current is not None:
                current, fetched = await self._fetch(current, backend, result)
        if current is not None and current.state is JobState.DELIVERING:
            current = await self._deliver(current, fetched)
        return current

    async def _submit(self, job: Job, backend: Backend) -> Job | None:
        spec = self._catalog.get(job.request.model)
        if spec is None:
            await self._fail(job, FailureReason.INVALID_REQUEST, f"model {job.request.model} is no longer configured")
            return None
        image = None
        if job.request.image_url is not None:
            try:
                image = await load_image(
                    job.request.image_url, self._image_max_bytes, wait=self._wait, download=self._download_image
                )
            except ImageUnavailable as error:
                await self._fail(job, FailureReason.INPUT_IMAGE_UNAVAILABLE, str(error))
                return None
            except ImageError as error:
                await self._fail(job, FailureReason.BAD_INPUT_IMAGE, str(error))
                return None
        request = GenerationRequest(
            job_id=job.id,
            model=spec,
            prompt=job.request.prompt,
            seconds=job.request.seconds,
            aspect=job.request.aspect,
            seed=job.request.seed or 0,
            negative_prompt=job.request.negative_prompt,
            image=image,
            audio=spec.sound_for(job.request.audio),
        )
        submitted = await submit_when_allowed(
            backend, request, on_wait=partial(self._note_rate_limited, job), sleep=self._sleep
        )
        job.waiting_reason = None
        # Stored the moment the provider accepts: from here on the job is polled, never resubmitted.
        return await self._move(
            job,
            JobState.RUNNING,
            backend_job_id=submitted.id,
            backend_data=dict(submitted.data),
            started_at=self._clock(),
        )

    def _note_rate_limited(self, job: Job, wait: float) -> None:
        job.waiting_reason = f"The video service asked the bot to slow down; sending again in {wait:.0f} s."
        self._events.publish("progress", job)

    async def _sleep(self, seconds: float) -> None:
        await self._wait(asyncio.sleep(seconds), "job: waiting out a provider's rate limit")

    async def _poll(self, job: Job, backend: Backend) -> PollResult:
        handle = BackendJob(job.backend_job_id or job.id, job.backend_data)

        model = job.request.model

        def on_update(result: PollResult) -> None:
            if result.state == "succeeded" and job.started_at is not None:
                self._note_provider_time(model, (self._clock() - job.started_at).total_seconds())
            if result.progress != job.progress or result.queue_position != job.provider_queue_position:
                job.progress = result.progress
                job.provider_queue_position = result.queue_position
                self._events.publish("progress", job)

        elapsed = (self._clock() - (job.started_at or job.created_at)).total_seconds()
        return await poll_until_done(
            backend,
            handle,
            on_update=on_update,
            timeout=max(self._job_timeout - elapsed, 1.0),
            expected_seconds=self._provider_times.get(model, self._run_times.estimate(model)),
            elapsed=elapsed,
        )

    def _note_provider_time(self, model: str, seconds: float) -> None:
        previous = self._provider_times.get(model)
        smoothing = RunTimes.SMOOTHING
        self._provider_times[model] = seconds if previous is None else previous + smoothing * (seconds - previous)

    async def _fetch(self, job: Job, backend: Backend, result: PollResult) -> tuple[Job | None, tuple[Path, VideoInfo]]:
        """Download and fit the clip; `job` as stored (running, or fetching where that step is written)."""
        shown = job if job.state is JobState.FETCHING else self._show_fetching(job, result.result_url)
        handle = BackendJob(job.backend_job_id or job.id, job.backend_data)
        await self._disk.wait_for_space(job.id)
        if not self._media_dir_made:
            # Once per run, not per job (a failed mkdir costs an exception): nothing of the bot
            # removes the folder, and a backend's download makes it again where someone did.
            self._media_dir.mkdir(parents=True, exist_ok=True)
            self._media_dir_made = True
        # Fetched under a partial name and renamed once whole and fitted: a file under the
        # final name is always complete. Only the DELIVERING checkpoint below makes it
        # count, so a download cut by a stop or a crash is simply fetched again.
        final = self._media_dir / f"{job.id}.mp4"
        part_file = final.with_name(f"{final.name}.part")
        fetched = await metrics.timed(metrics.FETCH, backend.fetch(handle, result, part_file, MAX_DOWNLOAD_BYTES))
        if fetched.info.size_bytes > upload_budget(job.origin.upload_limit):
            self._show_clip_step(shown, ClipStep.REENCODING)
        try:
            fitted = await metrics.timed(
                metrics.FIT,
                fit_to_limit(
                    fetched.path,
                    job.origin.upload_limit,
                    self._media_dir,
                    self._encode_slots,
                    info=fetched.info,
                    wait=self._wait,
                    on_wait=lambda: self._show_clip_step(shown, ClipStep.WAITING_FOR_ENCODER),
                ),
            )
        finally:
            shown.clip_step = None
        if not fitted.fitted:
            log.info("job %s: clip stays over the upload limit (%s); a link will be posted", job.id, fitted.detail)
        # Named for what it is: a WebM kept as fetched is posted as .webm, so players recognise it.
        kept = final.with_suffix(".webm") if fitted.info.webm else final
        fitted.path.replace(kept)  # the download itself, or its re-encode
        if fetched.path not in (fitted.path, kept):
            fetched.path.unlink(missing_ok=True)
        moved = await self._move(job, JobState.DELIVERING, result_path=str(kept), result_url=fetched.source_url)
        return moved, (kept, fitted.info)

    def _show_fetching(self, job: Job, result_url: str | None) -> Job:
        """The job as its members see it while the clip downloads, kept in memory only (see `stores_fetching`)."""
        shown = job.evolve(state=JobState.FETCHING, result_url=result_url, updated_at=self._clock())
        if job.id in self._running:
            self._running[job.id] = shown
        self._events.publish("state", shown)
        return shown

    def live(self, job: Job) -> Job:
        """`job` as stored, with the step this process's task for it has reached where only memory holds it."""
        driven = self._running.get(job.id)
        if driven is None or driven.state is not JobState.FETCHING or job.state is not JobState.RUNNING:
            return job
        return job.evolve(state=JobState.FETCHING, result_url=driven.result_url, clip_step=driven.clip_step)

    def _show_clip_step(self, job: Job, step: ClipStep) -> None:
        job.clip_step = step
        self._events.publish("progress", job)

    async def _deliver(self, job: Job, fetched: tuple[Path, VideoInfo] | None) -> Job | None:
        """Post the clip; `fetched` is None when a restart resumed the job here, and the stored file is probed."""
        if self._deliverer is None:
            raise RuntimeError("no deliverer attached")
        if fetched is not None:
            path, info = fetched
        elif job.result_path is None:
            await self._fail(job, FailureReason.COULD_NOT_DELIVER, "the clip file is missing")
            return None
        else:
            path = Path(job.result_path)
            try:
                info = await probe_video_async(path)
            except NotAVideo as error:
                await self._fail(job, FailureReason.BAD_OUTPUT, str(error))
                return None
        # The budget leaves room for the multipart envelope around the file.
        fits = info.size_bytes <= upload_budget(job.origin.upload_limit)
        clip = Clip(path=path, info=info, fits=fits, source_url=job.result_url)
        outcome = await self._deliverer.deliver(job, clip)
        if not isinstance(outcome, Delivered):
            await self._fail(job, outcome.reason, outcome.detail)
            return None
        charged = ledger.charged_seconds(job, info.duration)
        clock = self._clock()
        now = to_epoch(clock)
        model = job.request.model
        # The run time feeds the ETAs; it is saved with the settle, in the same write.
        run_time = self._run_times.record(model, (clock - job.started_at).total_seconds()) if job.started_at else None

        def settle(tx: Tx) -> Job:
            delivered = tx.move_job(
                job,
                JobState.DELIVERED,
                now,
                result_message_id=outcome.message_id,
                result_dm_channel_id=outcome.dm_channel_id,
            )
            ledger.settle(tx, job, charged, now)
            if run_time is not None:
                tx.save_model_run_time(model, *run_time)
            return delivered

        try:
            delivered = await self._checkpoint(self._guarded(job.id, settle, finishing=True))
        except StaleState:  # canceled meanwhile, or (a worker among several) the job is another's now
            return None
        self._events.publish("state", delivered)
        return delivered

    # Steps shared by every stage

    async def _move(self, job: Job, target: JobState, **changes: object) -> Job | None:
        """Checkpoint a step. None when someone else (a cancel) moved the job first."""
        now = to_epoch(self._clock())
        try:
            moved = await self._checkpoint(
                self._guarded(job.id, lambda tx: tx.move_job(job, target, now, **changes), finishing=target.finished)
            )
        except StaleState:
            return None
        if moved.id in self._running:
            self._running[moved.id] = moved
        self._events.publish("state", moved)
        return moved

    async def _fail(self, job: Job, reason: FailureReason, detail: str) -> None:
        """Fail the job and release its reservation; members are shown a short plain `detail`."""
        # The job's one end line (bot.jobs.job_log) carries the short reason; the full detail is for debugging.
        log.debug("job %s fails as %s: %s", job.id, reason.value, detail)
        detail = member_reason(detail)
        now = to_epoch(self._clock())

        def fail(tx: Tx) -> Job:
            failed = tx.move_job(job, JobState.FAILED, now, failure=reason.value, failure_detail=detail)
            ledger.release(tx, job, now)
            return failed

        try:
            failed = await self._checkpoint(self._guarded(job.id, fail, finishing=True))
        except StaleState:
            return
        self._queue.remove(job.id)
        self._events.publish("state", failed)

    def _guarded(self, job_id: str, work: Callable[[Tx], T], *, finishing: bool) -> Callable[[Tx], T]:
        """The write of one of a job's checkpoints. Alone on its database, a runner needs no fence."""
        return work

    def _current(self, job_id: str) -> Awaitable[Job | None]:
        return self._durably(partial(self._store.read, lambda tx: tx.get_job(job_id)))

    def _checkpoint(self, work: Callable[[Tx], T]) -> Awaitable[T]:
        """Write a job's step however long the store stays busy: the job waits, it does not fail."""
        return self._durably(partial(self._store.write, work))

    async def _durably(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` again after `StoreBusy` (the store already retried for a while), with backoff.

        The job keeps what it has in memory (a provider's job id, a fetched clip) until the
        store takes it; only the job's deadline, or a stop, ends the wait.
        """
        delay = STORE_RETRY_FIRST_SECONDS
        while True:
            try:
                return await call()
            except StoreBusy as error:
                log.warning("the store is unavailable (%s); trying again in %g s", error, delay)
                await self._wait(asyncio.sleep(delay), "runner: waiting for the database")
                delay = min(delay * 2, STORE_RETRY_MAX_SECONDS)

    async def _cancel_at_backend(self, job_id: str, backend: Backend | None) -> None:
        current = await asyncio.shield(self._current(job_id))
        if backend is None or current is None or current.backend_job_id is None:
            return
        try:
            await backend.cancel(BackendJob(current.backend_job_id, current.backend_data))
        except BackendError as error:
            log.info("backend cancel for job %s failed: %s", job_id, error)
