from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import pytest

from bot.media import encoder, fit
from bot.media.demo_render import render_demo
from bot.media.encoder import EncoderLimits, EncodeSlots
from bot.media.fit import FFmpegUnavailable, ffmpeg_version, fit_to_limit, output_size, scale_factor, upload_budget
from bot.media.probe import VideoInfo, probe_video


# Tests may block: these keep the async tests' file checks readable.
def files_in(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def size_of(path: Path) -> int:
    return path.stat().st_size


async def test_a_clip_under_the_limit_is_returned_unchanged(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots
) -> None:
    size = size_of(noise_clip)
    result = await fit_to_limit(noise_clip, size * 2, tmp_path, slots)
    assert (result.path, result.fitted, result.reencoded, result.size) == (noise_clip, True, False, size)
    assert files_in(tmp_path) == []


async def test_an_over_limit_clip_is_reencoded_under_it(noise_clip: Path, tmp_path: Path, slots: EncodeSlots) -> None:
    source = probe_video(noise_clip)
    limit = source.size_bytes // 5
    reasons: list[str] = []

    async def recording_wait(awaitable: Awaitable[Any], reason: str) -> Any:
        reasons.append(reason)
        return await awaitable

    result = await fit_to_limit(noise_clip, limit, tmp_path, slots, wait=recording_wait)

    assert result.fitted
    assert result.reencoded
    assert result.path.parent == tmp_path
    assert result.size == size_of(result.path) <= upload_budget(limit) < limit
    with av.open(str(result.path)) as container:
        assert container.streams.audio, "the audio track is kept"
        frames = list(container.decode(video=0))
    assert len(frames) == pytest.approx(72, abs=1)
    assert result.info.duration == pytest.approx(source.duration, abs=1 / 24)
    assert (result.info.width, result.info.height) == (source.width, source.height)
    assert "fit: ffmpeg re-encode" in reasons
    # Failed attempts do not linger next to the result.
    assert files_in(tmp_path) == [result.path]


async def test_an_impossible_limit_is_reported_not_raised(noise_clip: Path, tmp_path: Path, slots: EncodeSlots) -> None:
    result = await fit_to_limit(noise_clip, 20_000, tmp_path, slots)
    assert not result.fitted
    assert not result.reencoded
    assert result.path == noise_clip
    assert "kbit/s" in result.detail


async def test_a_failing_ffmpeg_is_reported_not_raised(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fit, "ffmpeg_exe", lambda: "/bin/false")
    result = await fit_to_limit(noise_clip, size_of(noise_clip) // 4, tmp_path, slots)
    assert not result.fitted
    assert result.path == noise_clip
    assert result.detail.startswith("ffmpeg failed")
    assert files_in(tmp_path) == []


async def test_a_truncated_reencode_is_not_accepted(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_command = fit._command

    def cut_short(*args: Any) -> list[str]:
        command = real_command(*args)
        return [*command[:-1], "-t", "1", command[-1]]

    monkeypatch.setattr(fit, "_command", cut_short)
    result = await fit_to_limit(noise_clip, size_of(noise_clip) // 5, tmp_path, slots)

    assert not result.fitted
    assert result.path == noise_clip
    assert "lasts 1.00 s" in result.detail
    assert files_in(tmp_path) == []


def info(width: int, height: int, fps: float = 24.0) -> VideoInfo:
    return VideoInfo(duration=4, codec="h264", width=width, height=height, fps=fps, has_audio=False, size_bytes=1)


def test_enough_bitrate_keeps_the_resolution() -> None:
    assert scale_factor(info(854, 480), 2_000_000) == 1.0


def test_a_thin_bitrate_scales_down_to_enough_bits_per_pixel() -> None:
    scale = scale_factor(info(1920, 1080), 400_000)
    assert scale < 1
    assert 400_000 / (1920 * scale * 1080 * scale * 24) == pytest.approx(0.04)


def test_scaling_stops_at_a_watchable_size() -> None:
    assert 480 * scale_factor(info(854, 480), 20_000) == pytest.approx(144)


def test_a_1080p_source_is_reencoded_at_720p_even_with_bits_to_spare() -> None:
    assert output_size(info(1920, 1080), 20_000_000) == (1280, 720)
    assert output_size(info(1080, 1920), 20_000_000) == (720, 1280)


async def test_a_thin_budget_gives_fewer_pixels_same_shape(tmp_path: Path, slots: EncodeSlots) -> None:
    clip = render_demo(tmp_path / "demo.mp4", prompt="a boat", seconds=2, aspect="16:9", seed=3)
    video_bps = 200_000  # about half of what 854x480 at 24 fps needs
    limit = int((video_bps * 2 / 8 + fit.ENVELOPE_BYTES) / (1 - fit.SAFETY_SHARE))
    assert size_of(clip.path) > upload_budget(limit), "the demo clip must start over the limit"

    result = await fit_to_limit(clip.path, limit, tmp_path / "fit", slots)

    assert result.fitted
    assert result.size <= upload_budget(limit)
    assert result.info.width < 854
    assert result.info.width % 2 == 0
    assert result.info.height % 2 == 0
    assert result.info.width / result.info.height == pytest.approx(854 / 480, rel=0.01)
    assert result.info.duration == pytest.approx(2, abs=1 / 24)


def test_ffmpeg_version_names_the_bundled_binary() -> None:
    assert ffmpeg_version()[0].isalnum()


def test_an_unusable_ffmpeg_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit, "ffmpeg_exe", lambda: "/nonexistent/ffmpeg")
    with pytest.raises(FFmpegUnavailable, match="does not run"):
        ffmpeg_version()


def _child_pids() -> set[str]:
    children: set[str] = set()
    for task in Path("/proc/self/task").iterdir():
        children.update((task / "children").read_text().split())
    return children


async def test_a_canceled_reencode_leaves_no_file_and_no_ffmpeg(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_command = fit._command

    def at_playback_speed(*args: Any) -> list[str]:
        command = real_command(*args)
        at = command.index("-i")
        return [*command[:at], "-re", *command[at:]]  # reads the 3 s clip in 3 s: time to cancel

    monkeypatch.setattr(fit, "_command", at_playback_speed)
    before = _child_pids()
    task = asyncio.create_task(fit_to_limit(noise_clip, size_of(noise_clip) // 5, tmp_path, slots))
    for _ in range(1500):  # up to 30 s, a liveness bound: ffmpeg creates its output first thing
        if list(tmp_path.glob("*.fit1.mp4")):
            break
        await asyncio.sleep(0.02)
    assert _child_pids() - before  # ffmpeg is running and writing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in(tmp_path) == []
    assert _child_pids() - before == set()


def test_only_old_reencodes_are_removed_as_leftovers(tmp_path: Path) -> None:
    old, fresh, clip = tmp_path / "A.1234abcd.fit1.mp4", tmp_path / "B.5678abcd.fit2.mp4", tmp_path / "C.mp4"
    for path in (old, fresh, clip):
        path.write_bytes(b"x")
    os.utime(old, (0, 0))
    assert fit.remove_stale_reencodes(tmp_path) == 1
    assert files_in(tmp_path) == [fresh, clip]


async def test_a_first_attempt_that_misses_is_followed_by_one_aimed_under_it(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_plan = fit.first_plan

    def overshooting(info: VideoInfo, budget: int) -> Any:
        plan = real_plan(info, budget)
        return replace(plan, video_bps=plan.video_bps * 3)  # a first guess far too high

    monkeypatch.setattr(fit, "first_plan", overshooting)
    limit = size_of(noise_clip) // 5
    result = await fit_to_limit(noise_clip, limit, tmp_path, slots)

    first, second = result.attempts
    assert first.size > upload_budget(limit)
    assert result.fitted and result.size == second.size <= upload_budget(limit)
    assert second.video_bps < first.video_bps
    assert files_in(tmp_path) == [result.path]


async def test_a_reencode_over_its_memory_ceiling_is_reported(noise_clip: Path, tmp_path: Path) -> None:
    tiny = EncodeSlots(EncoderLimits(parallel=1, threads=2, memory_bytes=16 * 1024 * 1024))
    result = await fit_to_limit(noise_clip, size_of(noise_clip) // 5, tmp_path, tiny)
    assert not result.fitted
    assert result.detail.startswith("ffmpeg failed")
    assert "memory ceiling of 16 MiB" in result.detail
    assert files_in(tmp_path) == []


async def test_a_reencode_waits_for_a_free_slot_and_says_so(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots
) -> None:
    waiting = asyncio.Event()
    async with slots.slot():
        fitting = asyncio.create_task(
            fit_to_limit(noise_clip, size_of(noise_clip) // 5, tmp_path, slots, on_wait=waiting.set)
        )
        await waiting.wait()
        assert not fitting.done()
        assert files_in(tmp_path) == [], "nothing is encoded while the only slot is taken"
    result = await fitting
    assert result.fitted
    assert result.waited_seconds > 0


async def test_slots_never_run_more_than_their_number_at_once() -> None:
    slots = EncodeSlots(EncoderLimits(parallel=2, threads=1, memory_bytes=1))
    inside, most, waited = 0, 0, 0

    async def one() -> None:
        nonlocal inside, most, waited

        def on_wait() -> None:
            nonlocal waited
            waited += 1

        async with slots.slot(on_wait):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(one() for _ in range(5)))
    assert (most, waited) == (2, 3)


@pytest.mark.parametrize(("cpus", "parallel", "threads"), [(1, 1, 1), (2, 1, 2), (8, 2, 4), (64, 16, 4)])
def test_encoder_defaults_come_from_the_cpu_count(
    monkeypatch: pytest.MonkeyPatch, cpus: int, parallel: int, threads: int
) -> None:
    monkeypatch.setattr(encoder, "machine_cpus", lambda: cpus)
    monkeypatch.setattr(encoder, "machine_memory", lambda: 64 * 1024**3)
    limits = EncoderLimits.for_machine()
    assert (limits.parallel, limits.threads, limits.memory_bytes) == (parallel, threads, 1024 * 1024 * 1024)
    assert EncoderLimits.for_machine(parallel=3, threads=5, memory_mib=300) == EncoderLimits(3, 5, 300 * 1024 * 1024)


def test_a_small_machine_gets_the_smallest_memory_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder, "machine_memory", lambda: 1024**3)
    assert EncoderLimits.for_machine().memory_bytes == 512 * 1024 * 1024
