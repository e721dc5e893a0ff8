from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import av
import pytest

from bot.media import fit
from bot.media.demo_render import render_demo
from bot.media.encoder import EncodeSlots
from bot.media.fit import FFmpegUnavailable, ffmpeg_version, fit_to_limit, output_size, scale_factor, upload_budget
from bot.media.probe import VideoInfo, probe_video
from tests.reencoding import child_pids, reencode_at_playback_speed, until_reencoding


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


async def test_a_canceled_reencode_leaves_no_file_and_no_ffmpeg(
    noise_clip: Path, tmp_path: Path, slots: EncodeSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    reencode_at_playback_speed(monkeypatch)
    before = child_pids()
    task = asyncio.create_task(fit_to_limit(noise_clip, size_of(noise_clip) // 5, tmp_path, slots))
    await until_reencoding(tmp_path)
    assert child_pids() - before  # ffmpeg is running and writing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in(tmp_path) == []
    assert child_pids() - before == set()
