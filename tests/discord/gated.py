"""A stand-in video provider the test controls: it reports progress, then waits for `release()`.

Its state lives in the test, not the bot, so it survives `env.restart_bot()` the way a
hosted provider's jobs survive a restart of ours. The wait for the gate goes through
the bot's external-wait hook, which is how SimCord knows the bot is idle on purpose.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import defaultdict
from pathlib import Path

from bot.backends.base import (
    BackendCapabilities,
    BackendError,
    BackendJob,
    ExternalWait,
    FetchedClip,
    GenerationRequest,
    PollResult,
)
from bot.media.probe import probe_video_async
from bot.models import ModelCatalog, ModelSpec

MODEL = "gated"


def gated_catalog() -> ModelCatalog:
    return ModelCatalog(
        [
            ModelSpec(
                name=MODEL,
                backend="gated",
                description="test provider",
                durations=(2, 4),
                aspects=("16:9", "1:1"),
                cost_per_second=0.5,
                max_concurrency=4,
            )
        ]
    )


class GatedBackend:
    name = "gated"
    capabilities = BackendCapabilities(cancel=True)

    def __init__(
        self,
        clip: Path,
        wait: ExternalWait,
        *,
        released: bool = True,
        progress: tuple[float, ...] = (0.5,),
        source_url: str | None = None,
    ) -> None:
        self.clip = clip
        self.wait = wait
        self.progress = progress
        self.source_url = source_url
        self.failure: BackendError | None = None
        self.submits: list[str] = []
        self.canceled: list[str] = []
        self.polls: dict[str, int] = defaultdict(int)
        self._released = released
        self._gate: asyncio.Event | None = None

    def release(self) -> None:
        self._released = True
        if self._gate is not None:
            self._gate.set()

    async def submit(self, request: GenerationRequest) -> BackendJob:
        self.submits.append(request.job_id)
        return BackendJob(f"g-{request.job_id}")

    async def poll(self, job: BackendJob) -> PollResult:
        self.polls[job.id] += 1
        count = self.polls[job.id]
        if self.failure is not None:
            return PollResult("failed", error=self.failure)
        if count <= len(self.progress):
            return PollResult("running", progress=self.progress[count - 1], poll_after=0.01)
        if not self._released:
            self._gate = self._gate or asyncio.Event()
            await self.wait(self._gate.wait(), "gated provider: waiting for the test to release the job")
        return PollResult("succeeded", progress=1.0, result_url=self.source_url)

    async def cancel(self, job: BackendJob) -> None:
        self.canceled.append(job.id)

    async def fetch(self, job: BackendJob, result: PollResult, dest: Path, max_bytes: int) -> FetchedClip:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.clip, dest)
        return FetchedClip(dest, await probe_video_async(dest), self.source_url)

    async def aclose(self) -> None:
        return None
