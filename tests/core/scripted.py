"""A backend whose every answer the test decides, and a deliverer that records what it posts.

The real providers are tested against loopback HTTP servers in tests/backends;
the core's tests need to say exactly when a job finishes or how it fails.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bot.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendErrorKind,
    BackendJob,
    FetchedClip,
    GenerationRequest,
    PollResult,
)
from bot.domain.jobs import Job
from bot.jobs.delivery import Clip, Delivered, DeliveryOutcome, Undeliverable
from bot.media.probe import probe_video_async


@dataclass
class Script:
    """What happens to one job: fail at submit, fail when polled, or finish when `release` is set."""

    submit_error: BackendError | None = None
    poll_error: BackendError | None = None
    # Submits answered 429 before one is accepted (-1: every one).
    rate_limited_submits: int = 0
    poll_hangs: bool = False  # a status request that never answers
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Set to hold the download until it is set too.
    fetch_release: asyncio.Event | None = None


class ScriptedBackend:
    name = "scripted"

    def __init__(self, clip: Path, *, idempotent: bool = False, auto_release: bool = True) -> None:
        self.capabilities = BackendCapabilities(idempotent_submit=idempotent)
        self.clip = clip
        self.auto_release = auto_release
        self.scripts: dict[str, Script] = {}
        self.submits: list[str] = []
        self.sent: dict[str, GenerationRequest] = {}
        self.canceled: list[str] = []
        self.polls = 0

    def script(self, job_id: str) -> Script:
        return self.scripts.setdefault(job_id, Script())

    async def submit(self, request: GenerationRequest) -> BackendJob:
        self.submits.append(request.job_id)
        self.sent[request.job_id] = request
        script = self.script(request.job_id)
        if script.submit_error is not None:
            raise script.submit_error
        if script.rate_limited_submits:
            script.rate_limited_submits -= 1
            raise BackendError(BackendErrorKind.RATE_LIMITED, "slow down", retry_after=0.0, status_code=429)
        if self.auto_release:
            script.release.set()
        return BackendJob(f"remote-{request.job_id}", {"seed": str(request.seed)})

    async def poll(self, job: BackendJob) -> PollResult:
        self.polls += 1
        script = self.script(job.id.removeprefix("remote-"))
        if script.poll_error is not None:
            return PollResult("failed", error=script.poll_error)
        if script.poll_hangs:
            await asyncio.Event().wait()
        if not script.release.is_set():
            return PollResult("running", progress=0.5, poll_after=0.01)
        return PollResult("succeeded", progress=1.0, result_url=f"https://example.invalid/{job.id}.mp4")

    async def cancel(self, job: BackendJob) -> None:
        self.canceled.append(job.id)

    async def fetch(self, job: BackendJob, result: PollResult, dest: Path, max_bytes: int) -> FetchedClip:
        held = self.script(job.id.removeprefix("remote-")).fetch_release
        if held is not None:
            await held.wait()
        shutil.copyfile(self.clip, dest)
        return FetchedClip(dest, await probe_video_async(dest), result.result_url)

    async def aclose(self) -> None:
        return None


class RecordingDeliverer:
    def __init__(self) -> None:
        self.posted: list[tuple[str, Clip]] = []
        self.outcome: DeliveryOutcome | None = None
        self.next_id = 1000

    async def deliver(self, job: Job, clip: Clip) -> DeliveryOutcome:
        if isinstance(self.outcome, Undeliverable):
            return self.outcome
        if job.result_message_id is not None:
            return Delivered(job.result_message_id)
        self.posted.append((job.id, clip))
        self.next_id += 1
        return Delivered(self.next_id)
