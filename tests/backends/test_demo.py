from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.backends.base import (
    BackendError,
    BackendErrorKind,
    BackendJob,
    GenerationRequest,
    InputImage,
    PollResult,
    await_directly,
)
from bot.backends.demo import DemoBackend
from bot.jobs.polling import poll_until_done
from bot.models import ModelSpec
from bot.settings import Settings

MODEL = ModelSpec(name="demo", backend="demo", durations=(1, 2), aspects=("16:9", "9:16", "1:1"), image_to_video=True)


def request(
    job_id: str, *, seconds: int = 1, aspect: str = "16:9", image: InputImage | None = None
) -> GenerationRequest:
    return GenerationRequest(
        job_id=job_id, model=MODEL, prompt="a red kite over a green hill", seconds=seconds, aspect=aspect,
        seed=42, negative_prompt="blurry", image=image,
    )  # fmt: skip


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[DemoBackend]:
    demo = DemoBackend(tmp_path / "renders")
    yield demo
    await demo.aclose()


async def wait_done(backend: DemoBackend, job: BackendJob, updates: list[PollResult] | None = None) -> PollResult:
    seen = updates if updates is not None else []
    return await poll_until_done(backend, job, on_update=seen.append, timeout=60, first_delay=0.05, max_delay=0.2)


async def test_submit_poll_fetch_gives_a_real_clip(tmp_path: Path) -> None:
    reasons: list[str] = []

    async def recording_wait(awaitable: Awaitable[Any], reason: str) -> Any:
        reasons.append(reason)
        return await awaitable

    backend = DemoBackend(tmp_path / "renders", wait=recording_wait)
    try:
        job = await backend.submit(request("job-1", seconds=2, aspect="9:16"))
        assert job.id == "job-1"
        result = await wait_done(backend, job)
        assert result.state == "succeeded"

        clip = await backend.fetch(job, result, tmp_path / "out" / "clip.mp4", max_bytes=50_000_000)
    finally:
        await backend.aclose()

    assert clip.path == tmp_path / "out" / "clip.mp4"
    assert (clip.info.width, clip.info.height, clip.info.codec) == (480, 854, "h264")
    assert clip.info.duration == pytest.approx(2, abs=1 / 24)
    assert clip.source_url is None
    assert "demo: render" in reasons
    assert [path for path in files_in(tmp_path / "renders") if path.is_file()] == []


async def test_simulated_latency_shows_a_queue_then_progress(tmp_path: Path) -> None:
    backend = DemoBackend(tmp_path / "renders", latency=1.5)
    try:
        job = await backend.submit(request("slow"))
        updates: list[PollResult] = []
        result = await wait_done(backend, job, updates)
    finally:
        await backend.aclose()

    assert result.state == "succeeded"
    states = [update.state for update in updates]
    assert states[0] == "queued"
    assert updates[0].queue_position is not None
    assert updates[0].queue_position >= 1
    assert "running" in states
    assert states.index("running") > states.index("queued")
    progress = [update.progress for update in updates if update.state == "running"]
    assert all(value is not None and 0 <= value < 1 for value in progress)
    assert progress == sorted(progress)  # type: ignore[type-var]


async def test_resubmitting_the_same_job_id_renders_once(tmp_path: Path) -> None:
    backend = DemoBackend(tmp_path / "renders")
    first = await backend.submit(request("twice"))
    second = await backend.submit(request("twice"))
    assert first == second
    result = await wait_done(backend, first)
    await backend.fetch(first, result, tmp_path / "twice.mp4", max_bytes=50_000_000)
    await backend.aclose()  # lets any render already started finish
    # A second render would have left its own, unfetched file behind.
    assert [path for path in files_in(tmp_path / "renders") if path.is_file()] == []


async def test_cancel_stops_the_job_and_leaves_no_file(tmp_path: Path) -> None:
    backend = DemoBackend(tmp_path / "renders", latency=30)
    job = await backend.submit(request("to-cancel"))
    await backend.cancel(job)
    assert (await backend.poll(job)).state == "canceled"
    with pytest.raises(BackendError) as raised:
        await backend.fetch(job, PollResult(state="succeeded"), tmp_path / "x.mp4", max_bytes=10**9)
    assert raised.value.kind is BackendErrorKind.RESULT_EXPIRED
    await backend.aclose()  # waits for a render that had already started
    assert [path for path in files_in(tmp_path / "renders") if path.is_file()] == []


async def test_cancel_of_an_unknown_job_is_quiet_and_sticks(backend: DemoBackend) -> None:
    job = BackendJob(
        id="never-seen", data={"prompt": "a cat", "seconds": "1", "aspect": "1:1", "seed": "1", "image": "no"}
    )
    await backend.cancel(job)
    assert (await backend.poll(job)).state == "canceled"


async def test_an_unknown_job_without_its_data_polls_as_failed(backend: DemoBackend) -> None:
    result = await backend.poll(BackendJob(id="lost-in-a-restart"))
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.kind is BackendErrorKind.GENERATION_FAILED


async def test_a_restarted_backend_renders_a_stored_job_again(tmp_path: Path) -> None:
    before = DemoBackend(tmp_path / "renders", latency=60)
    stored = await before.submit(request("across-restart", seconds=2, aspect="1:1"))
    await before.aclose()  # the bot stops; the job's id and data stay in the store

    after = DemoBackend(tmp_path / "renders")
    try:
        result = await wait_done(after, stored)
        clip = await after.fetch(stored, result, tmp_path / "again.mp4", max_bytes=50_000_000)
    finally:
        await after.aclose()
    assert (clip.info.width, clip.info.height) == (480, 480)
    assert clip.info.duration == pytest.approx(2, abs=1 / 24)


async def test_a_restart_between_success_and_fetch_renders_again(tmp_path: Path) -> None:
    before = DemoBackend(tmp_path / "renders")
    stored = await before.submit(request("fetch-after-restart"))
    assert (await wait_done(before, stored)).state == "succeeded"
    await before.aclose()

    after = DemoBackend(tmp_path / "renders")
    try:
        clip = await after.fetch(stored, PollResult(state="succeeded"), tmp_path / "late.mp4", max_bytes=50_000_000)
    finally:
        await after.aclose()
    assert clip.info.duration == pytest.approx(1, abs=1 / 24)


async def test_an_image_job_cannot_be_redone_after_a_restart(backend: DemoBackend) -> None:
    job = BackendJob(
        id="i2v-lost", data={"prompt": "a cat", "seconds": "1", "aspect": "1:1", "seed": "1", "image": "yes"}
    )
    result = await backend.poll(job)
    assert result.state == "failed"


async def test_image_to_video(backend: DemoBackend, tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (300, 300), (10, 200, 30)).save(png, format="PNG")
    image = InputImage(data=png.getvalue(), content_type="image/png", filename="green.png")

    job = await backend.submit(request("i2v", aspect="1:1", image=image))
    result = await wait_done(backend, job)
    clip = await backend.fetch(job, result, tmp_path / "i2v.mp4", max_bytes=50_000_000)

    assert (clip.info.width, clip.info.height) == (480, 480)


async def test_a_bad_image_fails_at_once_as_an_invalid_request(tmp_path: Path) -> None:
    # Even with simulated latency: a provider refuses bad input without making you wait.
    backend = DemoBackend(tmp_path / "renders", latency=60)
    image = InputImage(data=b"GIF89a-not-really", content_type="image/png", filename="broken.png")
    try:
        job = await backend.submit(request("bad-image", image=image))
        result = await poll_until_done(
            backend, job, on_update=lambda _: None, timeout=30, first_delay=0.05, max_delay=0.2
        )
    finally:
        await backend.aclose()
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.kind is BackendErrorKind.INVALID_REQUEST


async def test_a_bad_aspect_is_refused_at_submit(backend: DemoBackend) -> None:
    with pytest.raises(BackendError) as raised:
        await backend.submit(request("odd", aspect="16x9"))
    assert raised.value.kind is BackendErrorKind.INVALID_REQUEST


async def test_a_clip_over_max_bytes_is_refused(backend: DemoBackend, tmp_path: Path) -> None:
    job = await backend.submit(request("big"))
    result = await wait_done(backend, job)
    with pytest.raises(BackendError) as raised:
        await backend.fetch(job, result, tmp_path / "big.mp4", max_bytes=1000)
    assert raised.value.kind is BackendErrorKind.BAD_OUTPUT


async def test_from_settings_uses_the_media_dir_and_latency(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "clips", demo_latency_seconds=20)
    backend = DemoBackend.from_settings(settings, await_directly)
    try:
        job = await backend.submit(request("configured"))
        first = await backend.poll(job)
        assert first.state == "queued"  # 20 s of simulated latency has barely begun
        assert (tmp_path / "clips" / "demo-renders").is_dir()
    finally:
        await backend.aclose()


async def test_closed_backend_refuses_new_work(tmp_path: Path) -> None:
    backend = DemoBackend(tmp_path / "renders")
    await backend.aclose()
    with pytest.raises(BackendError) as raised:
        await backend.submit(request("late"))
    assert raised.value.kind is BackendErrorKind.UNAVAILABLE


async def test_a_request_with_sound_gets_an_audio_track(tmp_path: Path) -> None:
    backend = DemoBackend(tmp_path / "renders")
    try:
        silent = await backend.submit(request("silent"))
        loud = await backend.submit(GenerationRequest(**{**asdict(request("sound")), "audio": True}))
        fetched = {}
        for job in (silent, loud):
            result = await wait_done(backend, job)
            fetched[job.id] = await backend.fetch(job, result, tmp_path / f"{job.id}.mp4", max_bytes=50_000_000)
    finally:
        await backend.aclose()

    assert fetched["silent"].info.has_audio is False
    assert fetched["sound"].info.has_audio is True
    assert loud.data["audio"] == "yes"  # a restarted bot renders it with sound again
