from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from bot.backends.base import Backend
from bot.core import Core
from bot.domain.jobs import Job, JobRequest, JobState, Origin
from bot.models import ModelCatalog, ModelSpec
from bot.settings import Settings
from tests.core.scripted import RecordingDeliverer, ScriptedBackend

GUILD = 10
CHANNEL = 20
LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-second H.264 clip, 64x64."""
    path = tmp_path_factory.mktemp("clip") / "small.mp4"
    with av.open(str(path), mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(16):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 64), (index * 15, 80, 160)))
            frame.pts, frame.time_base = index, Fraction(1, 8)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


class FakeClock:
    """Time the test moves by hand (quota windows, ETAs)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def catalog(max_concurrency: int = 2) -> ModelCatalog:
    return ModelCatalog(
        [
            ModelSpec(
                name="scripted",
                backend="scripted",
                durations=(2, 4, 8),
                aspects=("16:9", "1:1"),
                max_concurrency=max_concurrency,
                cost_per_second=0.5,
                image_to_video=True,
            )
        ]
    )


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_path": tmp_path / "footage.db",
        "media_dir": tmp_path / "clips",
        "default_daily_seconds": 20,
        "default_monthly_seconds": 100,
        "default_max_running": 1,
        "default_max_queued": 5,
        "default_max_clip_seconds": 8,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def request(
    prompt: str = "a foggy harbour at dawn", seconds: int = 2, model: str = "scripted", **fields: object
) -> JobRequest:
    return JobRequest(prompt=prompt, model=model, seconds=seconds, aspect="16:9", **fields)  # type: ignore[arg-type]


def origin(user: int, guild: int = GUILD) -> Origin:
    return Origin(guild, CHANNEL, user, LIMIT)


class CoreHarness:
    def __init__(self, tmp_path: Path, clip: Path) -> None:
        self.tmp_path = tmp_path
        self.clip = clip
        self.clock = FakeClock()
        self.backend = ScriptedBackend(clip)
        self.deliverer = RecordingDeliverer()
        self.core: Core | None = None

    async def open(
        self,
        *,
        start: bool = True,
        max_concurrency: int = 2,
        models: ModelCatalog | None = None,
        backends: Mapping[str, Backend] | None = None,
        **overrides: object,
    ) -> Core:
        self.core = await Core.open(
            settings_for(self.tmp_path, **overrides),
            clock=self.clock,
            backends=backends or {"scripted": self.backend},
            catalog=models or catalog(max_concurrency),
        )
        self.core.attach_deliverer(self.deliverer)
        if start:
            await self.core.start()
        return self.core

    async def close(self) -> None:
        if self.core is not None:
            await self.core.close()
            self.core = None

    async def until(self, job_id: str, *states: JobState, timeout: float = 10.0) -> Job:
        assert self.core is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job = await self.core.jobs.get(job_id)
            if job is not None and job.state in states:
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"job {job_id} stayed {job.state if job else None}, wanted {states}")
            await asyncio.sleep(0.01)


@pytest.fixture
async def harness(tmp_path: Path, small_clip: Path) -> AsyncIterator[CoreHarness]:
    harness = CoreHarness(tmp_path, small_clip)
    yield harness
    await harness.close()


Opener = Callable[..., Awaitable[Core]]
