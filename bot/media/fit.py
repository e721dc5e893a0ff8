"""Make a clip fit Discord's upload limit: keep it if it fits, else re-encode it smaller.

The re-encode runs the ffmpeg binary from the `imageio-ffmpeg` wheel as a child
process (never on the event loop). A clip that cannot be made to fit is reported,
not raised, so the caller can post a link instead.
"""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from bot import metrics
from bot.backends.base import ExternalWait, await_directly
from bot.media.probe import NotAVideo, VideoInfo, probe_video_async

# Room for the multipart envelope and the message around the file.
SAFETY_SHARE = 0.03
ENVELOPE_BYTES = 64 * 1024
# MP4 boxes and the AAC/H.264 framing around the encoded streams.
MUX_OVERHEAD = 0.02
AUDIO_BPS = 96_000
LOW_AUDIO_BPS = 48_000
# Below this, H.264 at any size is mush: better to post a link.
MIN_VIDEO_BPS = 48_000
# Below this many bits per pixel per frame, fewer pixels look better than more blocks.
MIN_BITS_PER_PIXEL = 0.04
MIN_SHORT_SIDE = 144
MAX_ATTEMPTS = 2
# A re-encode shorter than this lost frames (a truncated write); AAC priming may add a little.
DURATION_TOLERANCE = 0.25
REQUIRED_ENCODERS = ("libx264", "aac")
# A re-encode file older than this belongs to no running re-encode (each has a far shorter limit).
STALE_REENCODE_SECONDS = 6 * 3600


class FFmpegUnavailable(RuntimeError):
    """The ffmpeg binary from imageio-ffmpeg is missing, does not run, or lacks an encoder."""


@dataclass(frozen=True, slots=True)
class FitResult:
    path: Path
    fitted: bool  # `path` is under the limit
    reencoded: bool  # `path` is a new file in the workdir, not the source
    size: int
    info: VideoInfo
    detail: str = ""  # why it could not fit, for the log


def upload_budget(limit_bytes: int) -> int:
    """The largest file that still fits under `limit_bytes` once sent."""
    return int(limit_bytes * (1 - SAFETY_SHARE)) - ENVELOPE_BYTES


async def fit_to_limit(
    source: Path,
    limit_bytes: int,
    workdir: Path,
    *,
    info: VideoInfo | None = None,
    wait: ExternalWait = await_directly,
) -> FitResult:
    """Raises NotAVideo when `source` is not a video; otherwise always returns.

    `info` is the source's probe when the caller already has it (a backend's fetch
    probes what it downloads): probing decodes a frame, so it is not done twice.
    """
    if info is None:
        info = await wait(probe_video_async(source), "fit: probe clip")
    budget = upload_budget(limit_bytes)
    if info.size_bytes <= budget:
        return FitResult(source, fitted=True, reencoded=False, size=info.size_bytes, info=info)

    def unfitted(detail: str) -> FitResult:
        return FitResult(source, fitted=False, reencoded=False, size=info.size_bytes, info=info, detail=detail)

    try:
        ffmpeg = ffmpeg_exe()
    except FFmpegUnavailable as error:
        return unfitted(str(error))
    total_bps = budget * 8 * (1 - MUX_OVERHEAD) / info.duration if budget > 0 else 0.0
    audio_bps = 0
    if info.has_audio:
        audio_bps = AUDIO_BPS if total_bps >= 4 * AUDIO_BPS else LOW_AUDIO_BPS
    video_bps = int(total_bps - audio_bps)
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if video_bps < MIN_VIDEO_BPS:
            return unfitted(f"{limit_bytes} bytes leaves {video_bps // 1000} kbit/s of video for {info.duration:.1f} s")
        output = workdir / f"{source.stem}.{uuid.uuid4().hex[:8]}.fit{attempt}.mp4"
        command = _command(ffmpeg, source, output, video_bps, audio_bps, scale_factor(info, video_bps))
        try:
            with metrics.reencode_running():
                failure = await _run(command, seconds=max(60.0, info.duration * 20), wait=wait)
            if failure:
                output.unlink(missing_ok=True)
                return unfitted(f"ffmpeg failed: {failure}")
            try:
                fitted: VideoInfo = await wait(probe_video_async(output), "fit: probe re-encode")
            except NotAVideo as error:
                output.unlink(missing_ok=True)
                return unfitted(f"the re-encode is not a video: {error}")
        except BaseException:
            # Canceled (a job's deadline, a stop): the half-written re-encode goes too.
            output.unlink(missing_ok=True)
            raise
        if abs(fitted.duration - info.duration) > DURATION_TOLERANCE:
            output.unlink(missing_ok=True)
            return unfitted(f"the re-encode lasts {fitted.duration:.2f} s, the source {info.duration:.2f} s")
        if fitted.size_bytes <= budget:
            return FitResult(output, fitted=True, reencoded=True, size=fitted.size_bytes, info=fitted)
        output.unlink(missing_ok=True)
        # Single-pass rate control missed; aim lower by the measured overshoot, plus headroom.
        video_bps = int(video_bps * budget / fitted.size_bytes * 0.95)
    return unfitted(f"still over {budget} bytes after {MAX_ATTEMPTS} re-encodes")


def remove_stale_reencodes(workdir: Path, older_than: float = STALE_REENCODE_SECONDS) -> int:
    """Delete re-encodes a killed process left behind (`*.fitN.mp4`); blocking. Returns how many.

    Only old ones: another process sharing the folder may be writing a fresh one.
    """
    cutoff = time.time() - older_than
    removed = 0
    for leftover in workdir.glob("*.fit[0-9]*.mp4"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def scale_factor(info: VideoInfo, video_bps: int) -> float:
    """1.0, or less when the bitrate is too thin for the source's pixels (never below 144p)."""
    fps = info.fps if info.fps > 0 else 30.0
    bits_per_pixel = video_bps / (info.width * info.height * fps)
    if bits_per_pixel >= MIN_BITS_PER_PIXEL:
        return 1.0
    floor = min(1.0, MIN_SHORT_SIDE / min(info.width, info.height))
    return max(math.sqrt(bits_per_pixel / MIN_BITS_PER_PIXEL), floor)


def _command(ffmpeg: str, source: Path, output: Path, video_bps: int, audio_bps: int, scale: float) -> list[str]:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source)]
    command += ["-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    # maxrate/bufsize cap the peaks so short clips cannot overshoot by much.
    command += ["-b:v", str(video_bps), "-maxrate", str(video_bps), "-bufsize", str(video_bps)]
    # Scale by a factor of the input as ffmpeg sees it (after any rotation), to even sides for yuv420p.
    command += ["-vf", f"scale=trunc(iw*{scale:.4f}/2)*2:trunc(ih*{scale:.4f}/2)*2"]
    if audio_bps:
        command += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(audio_bps)]
    command += ["-map_metadata", "-1", "-movflags", "+faststart", str(output)]
    return command


async def _run(command: list[str], *, seconds: float, wait: ExternalWait) -> str:
    """Run ffmpeg; '' on success, else the reason (its last error line)."""
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(seconds):
            _, stderr = await wait(process.communicate(), "fit: ffmpeg re-encode")
    except TimeoutError:
        return f"no result after {seconds:.0f} s"
    finally:
        # Cancelled or timed out: do not leave an ffmpeg running behind us.
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {process.returncode}"
    return ""


def ffmpeg_exe() -> str:
    try:
        path: str = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as error:
        raise FFmpegUnavailable(f"imageio-ffmpeg has no ffmpeg binary: {error}") from None
    return path


def ffmpeg_version() -> str:
    """The ffmpeg version string, after checking it runs and has the encoders `fit_to_limit` uses.

    Blocking (two short child processes); for the doctor check.
    """
    ffmpeg = ffmpeg_exe()
    try:
        version = _run_blocking([ffmpeg, "-version"])
        encoders = _run_blocking([ffmpeg, "-hide_banner", "-encoders"])
    except (OSError, subprocess.SubprocessError) as error:
        raise FFmpegUnavailable(f"ffmpeg at {ffmpeg} does not run: {error}") from None
    match = re.match(r"ffmpeg version (\S+)", version)
    if match is None:
        raise FFmpegUnavailable(f"ffmpeg at {ffmpeg} printed no version")
    names = {line.split()[1] for line in encoders.splitlines() if len(line.split()) > 1}
    missing = [name for name in REQUIRED_ENCODERS if name not in names]
    if missing:
        raise FFmpegUnavailable(f"ffmpeg {match[1]} lacks the {', '.join(missing)} encoder(s)")
    return match[1]


def _run_blocking(command: list[str]) -> str:
    # The command is our own argument list for a binary from a wheel; no shell.
    completed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)  # noqa: S603
    return completed.stdout
