"""Make a clip fit Discord's upload limit: keep it if it fits, else re-encode it smaller.

The re-encode runs the ffmpeg binary from the `imageio-ffmpeg` wheel as a child
process (never on the event loop), one of a bounded number at once. One pass of x264
with its rate buffer (VBV) sized so that even its worst case fits; if it still
misses, a second pass aimed under the first's measured size. A clip that cannot be
made to fit is reported, not raised, so the caller can post a link instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import resource
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from bot import metrics
from bot.backends.base import ExternalWait, await_directly
from bot.media.encoder import EncoderLimits, EncodeSlots
from bot.media.probe import NotAVideo, StreamSizes, VideoInfo, probe_video_async, stream_sizes_async

# Room for the multipart envelope and the message around the file.
SAFETY_SHARE = 0.03
ENVELOPE_BYTES = 64 * 1024
# MP4 boxes around the encoded streams: a fixed part and an index entry per packet (measured ~13 B).
MUX_FIXED_BYTES = 2048
MUX_PACKET_BYTES = 16
AAC_FRAME_SAMPLES = 1024
AAC_SAMPLE_RATE = 48_000
# ffmpeg's AAC encoder can run a little over the rate it is given.
AUDIO_SLACK = 1.05
AUDIO_BPS = 96_000
LOW_AUDIO_BPS = 48_000
# Below this, H.264 at any size is mush: better to post a link.
MIN_VIDEO_BPS = 48_000
# Below this many bits per pixel per frame, fewer pixels look better than more blocks.
MIN_BITS_PER_PIXEL = 0.04
MIN_SHORT_SIDE = 144
# Discord's inline player shows a clip well under 720 lines: encoding more costs the member
# time for detail nobody sees in the channel. The preset is x264's fastest but one: at the
# rates an upload limit leaves for 720p it looks as good as slower ones and costs a third
# less CPU than veryfast (figures in docs/operations.md).
MAX_SHORT_SIDE = 720
PRESET = "superfast"
MAX_ATTEMPTS = 2
# x264's rate buffer (VBV): a clip's total can exceed its rate times its length by at most
# the buffer's initial fill, so the rate is set with the buffer counted in. A second attempt
# aims lower than the first's measured miss by this share, with half the buffer.
VBV_INITIAL_FILL = 0.9
SECOND_ATTEMPT_MARGIN = 0.92
# A re-encode shorter than this lost frames (a truncated write); AAC priming may add a little.
DURATION_TOLERANCE = 0.25
REQUIRED_ENCODERS = ("libx264", "aac")
# A re-encode file older than this belongs to no running re-encode (each has a far shorter limit).
STALE_REENCODE_SECONDS = 6 * 3600


class FFmpegUnavailable(RuntimeError):
    """The ffmpeg binary from imageio-ffmpeg is missing, does not run, or lacks an encoder."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One re-encode: what was asked of ffmpeg and what came out."""

    width: int
    height: int
    video_bps: int  # x264's rate and its rate buffer's ceiling
    audio_bps: int  # 0: no audio track
    size: int  # bytes written; 0 when ffmpeg failed
    seconds: float  # wall time of the ffmpeg run


@dataclass(frozen=True, slots=True)
class FitResult:
    path: Path
    fitted: bool  # `path` is under the limit
    reencoded: bool  # `path` is a new file in the workdir, not the source
    size: int
    info: VideoInfo
    detail: str = ""  # why it could not fit, for the log
    attempts: tuple[Attempt, ...] = ()
    waited_seconds: float = 0.0  # for a free re-encode slot


@dataclass(frozen=True, slots=True)
class _Plan:
    video_bps: int
    audio_bps: int
    buffer_seconds: float


def upload_budget(limit_bytes: int) -> int:
    """The largest file that still fits under `limit_bytes` once sent."""
    return int(limit_bytes * (1 - SAFETY_SHARE)) - ENVELOPE_BYTES


async def fit_to_limit(
    source: Path,
    limit_bytes: int,
    workdir: Path,
    slots: EncodeSlots,
    *,
    info: VideoInfo | None = None,
    wait: ExternalWait = await_directly,
    on_wait: Callable[[], None] | None = None,
) -> FitResult:
    """Raises NotAVideo when `source` is not a video; otherwise always returns.

    `info` is the source's probe when the caller already has it (a backend's fetch
    probes what it downloads): probing decodes a frame, so it is not done twice.
    A re-encode waits for one of `slots`; `on_wait` is called if it has to.
    """
    if info is None:
        info = await wait(probe_video_async(source), "fit: probe clip")
    budget = upload_budget(limit_bytes)
    if info.size_bytes <= budget:
        return FitResult(source, fitted=True, reencoded=False, size=info.size_bytes, info=info)
    try:
        ffmpeg = ffmpeg_exe()
    except FFmpegUnavailable as error:
        return _unfitted(source, info, str(error))
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    queued = time.monotonic()
    async with slots.slot(on_wait, wait):
        waited = time.monotonic() - queued
        return await _reencode(ffmpeg, source, info, budget, limit_bytes, workdir, slots.limits, wait, waited)


async def _reencode(
    ffmpeg: str,
    source: Path,
    info: VideoInfo,
    budget: int,
    limit_bytes: int,
    workdir: Path,
    limits: EncoderLimits,
    wait: ExternalWait,
    waited: float,
) -> FitResult:
    attempts: list[Attempt] = []

    def unfitted(detail: str) -> FitResult:
        return _unfitted(source, info, detail, tuple(attempts), waited)

    plan = first_plan(info, budget)
    for number in range(1, MAX_ATTEMPTS + 1):
        if plan.video_bps < MIN_VIDEO_BPS:
            return unfitted(
                f"{limit_bytes} bytes leaves {plan.video_bps // 1000} kbit/s of video for {info.duration:.1f} s"
            )
        width, height = output_size(info, plan.video_bps)
        output = workdir / f"{source.stem}.{uuid.uuid4().hex[:8]}.fit{number}.mp4"
        command = _command(ffmpeg, source, output, plan, width, height, limits.threads)
        started = time.monotonic()
        try:
            with metrics.reencode_running():
                failure = await _run(
                    command, seconds=max(60.0, info.duration * 20), memory=limits.memory_bytes, wait=wait
                )
            elapsed = time.monotonic() - started
            if failure:
                output.unlink(missing_ok=True)
                attempts.append(Attempt(width, height, plan.video_bps, plan.audio_bps, 0, elapsed))
                return unfitted(f"ffmpeg failed: {failure}")
            try:
                fitted: VideoInfo = await wait(probe_video_async(output), "fit: probe re-encode")
                sizes: StreamSizes = await wait(stream_sizes_async(output), "fit: measure re-encode")
            except NotAVideo as error:
                output.unlink(missing_ok=True)
                return unfitted(f"the re-encode is not a video: {error}")
        except BaseException:
            # Canceled (a job's deadline, a stop): the half-written re-encode goes too.
            output.unlink(missing_ok=True)
            raise
        attempts.append(Attempt(width, height, plan.video_bps, plan.audio_bps, fitted.size_bytes, elapsed))
        if abs(fitted.duration - info.duration) > DURATION_TOLERANCE:
            output.unlink(missing_ok=True)
            return unfitted(f"the re-encode lasts {fitted.duration:.2f} s, the source {info.duration:.2f} s")
        if fitted.size_bytes <= budget:
            return FitResult(
                output,
                fitted=True,
                reencoded=True,
                size=fitted.size_bytes,
                info=fitted,
                attempts=tuple(attempts),
                waited_seconds=waited,
            )
        output.unlink(missing_ok=True)
        plan = second_plan(plan, sizes, budget, info.duration)
    return unfitted(f"still over {budget} bytes after {MAX_ATTEMPTS} re-encodes")


def _unfitted(
    source: Path, info: VideoInfo, detail: str, attempts: tuple[Attempt, ...] = (), waited: float = 0.0
) -> FitResult:
    return FitResult(
        source,
        fitted=False,
        reencoded=False,
        size=info.size_bytes,
        info=info,
        detail=detail,
        attempts=attempts,
        waited_seconds=waited,
    )


def first_plan(info: VideoInfo, budget: int) -> _Plan:
    """Rates whose worst case (rate times length plus the buffer's initial fill) stays inside `budget`."""
    fps = info.fps if info.fps > 0 else 30.0
    audio_packets = info.duration * AAC_SAMPLE_RATE / AAC_FRAME_SAMPLES if info.has_audio else 0.0
    overhead = MUX_FIXED_BYTES + MUX_PACKET_BYTES * (info.duration * fps + audio_packets)
    room_bps = max(budget - overhead, 0) * 8 / info.duration
    audio_bps = 0
    if info.has_audio:
        audio_bps = AUDIO_BPS if room_bps >= 4 * AUDIO_BPS else LOW_AUDIO_BPS
    video_bits = max(budget - overhead, 0) * 8 - audio_bps * AUDIO_SLACK * info.duration
    buffer_seconds = min(1.0, max(0.25, info.duration / 4))
    video_bps = int(video_bits / (info.duration + VBV_INITIAL_FILL * buffer_seconds))
    return _Plan(video_bps, audio_bps, buffer_seconds)


def second_plan(first: _Plan, sizes: StreamSizes, budget: int, duration: float) -> _Plan:
    """Aim the video under what the first attempt's audio and boxes left, by its measured miss."""
    room = budget - sizes.audio_bytes - sizes.other_bytes
    buffer_seconds = first.buffer_seconds / 2
    # The first attempt's video bytes per unit of rate asked, held for the second.
    bytes_per_bps = sizes.video_bytes / first.video_bps
    video_bps = room / bytes_per_bps * SECOND_ATTEMPT_MARGIN if room > 0 else 0.0
    # Its own worst case too: the smaller buffer's initial fill on top of the rate.
    video_bps = min(video_bps, room * 8 / (duration + VBV_INITIAL_FILL * buffer_seconds))
    return _Plan(int(video_bps), first.audio_bps, buffer_seconds)


def scale_factor(info: VideoInfo, video_bps: int) -> float:
    """1.0, or less when the bitrate is too thin for the source's pixels (never below 144p)
    or the source is taller than a re-encode needs (above 720p)."""
    fps = info.fps if info.fps > 0 else 30.0
    short_side = min(info.width, info.height)
    bits_per_pixel = video_bps / (info.width * info.height * fps)
    scale = min(1.0, MAX_SHORT_SIDE / short_side)
    if bits_per_pixel / scale**2 >= MIN_BITS_PER_PIXEL:
        return scale
    floor = min(1.0, MIN_SHORT_SIDE / short_side)
    return max(math.sqrt(bits_per_pixel / MIN_BITS_PER_PIXEL), floor)


def output_size(info: VideoInfo, video_bps: int) -> tuple[int, int]:
    """The re-encode's frame size: the source scaled by `scale_factor`, both sides even (yuv420p)."""
    scale = scale_factor(info, video_bps)
    return max(2, int(info.width * scale) // 2 * 2), max(2, int(info.height * scale) // 2 * 2)


def _command(ffmpeg: str, source: Path, output: Path, plan: _Plan, width: int, height: int, threads: int) -> list[str]:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-threads", str(threads)]
    command += ["-i", str(source), "-filter_threads", str(threads), "-threads", str(threads)]
    command += ["-map", "0:v:0", "-c:v", "libx264", "-preset", PRESET, "-pix_fmt", "yuv420p"]
    rate, buffer = str(plan.video_bps), str(int(plan.video_bps * plan.buffer_seconds))
    command += ["-b:v", rate, "-maxrate", rate, "-bufsize", buffer]
    command += ["-x264-params", f"vbv-init={VBV_INITIAL_FILL}"]
    command += ["-vf", f"scale={width}:{height}"]
    if plan.audio_bps:
        command += ["-map", "0:a:0", "-c:a", "aac", "-ar", str(AAC_SAMPLE_RATE), "-b:a", str(plan.audio_bps)]
    command += ["-map_metadata", "-1", "-movflags", "+faststart", str(output)]
    return command


async def _run(command: list[str], *, seconds: float, memory: int, wait: ExternalWait) -> str:
    """Run ffmpeg under a data-size ceiling of `memory` bytes; '' on success, else the reason."""
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    # Set on the running child (no pre-exec hook: unsafe with threads); ffmpeg's large
    # buffers come only after it has opened the input, long after this call.
    with contextlib.suppress(ProcessLookupError):
        resource.prlimit(process.pid, resource.RLIMIT_DATA, (memory, memory))
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
    code = process.returncode
    if code != 0:
        lines = stderr.decode(errors="replace").strip().splitlines()
        if lines:
            last = lines[-1]
        elif code is not None and code < 0:
            last = f"killed by {signal.Signals(-code).name}"
        else:
            last = f"exit status {code}"
        # Running out of memory shows as many different errors (or a crash), so the ceiling is always named.
        return f"{last} (under its memory ceiling of {memory // (1024 * 1024)} MiB)"
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
