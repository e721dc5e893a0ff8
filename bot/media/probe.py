"""Is this file a real video? Duration, codec and size, read with PyAV (FFmpeg from a wheel)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import av


class NotAVideo(Exception):
    """The file has no decodable video stream (empty, truncated, or another kind of file)."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    duration: float  # seconds
    codec: str
    width: int
    height: int
    fps: float
    has_audio: bool
    size_bytes: int
    webm: bool = False  # a WebM (Matroska) file, not MP4/QuickTime


def probe_video(path: Path) -> VideoInfo:
    """Blocking; call through `probe_video_async` from the event loop."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NotAVideo(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            duration = _duration(container, stream)
            # Decoding one frame catches files whose header is fine but whose data is not.
            frame = next(container.decode(stream), None)
            if frame is None or duration <= 0:
                raise NotAVideo(f"{path.name} has no decodable frames")
            rate = stream.average_rate or stream.guessed_rate
            return VideoInfo(
                duration=duration,
                codec=stream.codec_context.name,
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=float(rate) if rate else 0.0,
                has_audio=bool(container.streams.audio),
                size_bytes=path.stat().st_size,
                webm="webm" in container.format.name.split(","),
            )
    except (av.FFmpegError, StopIteration, ValueError, OSError) as error:
        raise NotAVideo(f"{path.name} is not a readable video: {error}") from None


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


async def probe_video_async(path: Path) -> VideoInfo:
    return await asyncio.to_thread(probe_video, path)


@dataclass(frozen=True, slots=True)
class StreamSizes:
    """A file's bytes split into its video stream, its audio stream and the container around them."""

    video_bytes: int
    audio_bytes: int
    other_bytes: int


def stream_sizes(path: Path) -> StreamSizes:
    """Blocking; reads every packet's size without decoding."""
    video = audio = 0
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.stream.type == "video":
                    video += packet.size
                elif packet.stream.type == "audio":
                    audio += packet.size
    except (av.FFmpegError, ValueError, OSError) as error:
        raise NotAVideo(f"{path.name} is not a readable video: {error}") from None
    return StreamSizes(video, audio, path.stat().st_size - video - audio)


async def stream_sizes_async(path: Path) -> StreamSizes:
    return await asyncio.to_thread(stream_sizes, path)
