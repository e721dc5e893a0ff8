"""Real clips made with PyAV, for the fit tests: noise compresses badly, so it is big."""

from __future__ import annotations

import math
import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

NOISE_SECONDS = 3
NOISE_FPS = 24
NOISE_SIZE = (320, 180)
SAMPLE_RATE = 48_000
SAMPLES_PER_FRAME = 1024


def write_noise_clip(path: Path, *, audio: bool) -> Path:
    """Random pixels at near-lossless quality (a few MB), with a 440 Hz tone if `audio`."""
    width, height = NOISE_SIZE
    with av.open(str(path), mode="w", format="mp4") as output:
        video = output.add_stream("libx264", rate=NOISE_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "8"}
        sound = output.add_stream("aac", rate=SAMPLE_RATE) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for index in range(NOISE_SECONDS * NOISE_FPS):
            picture = Image.frombytes("RGB", NOISE_SIZE, os.urandom(width * height * 3))
            frame: av.VideoFrame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts, frame.time_base = index, Fraction(1, NOISE_FPS)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if sound is not None:
            total = NOISE_SECONDS * SAMPLE_RATE
            for start in range(0, total, SAMPLES_PER_FRAME):
                count = min(SAMPLES_PER_FRAME, total - start)
                tone = [0.3 * math.sin(2 * math.pi * 440 * (start + i) / SAMPLE_RATE) for i in range(count)]
                chunk = av.AudioFrame(format="flt", layout="mono", samples=count)
                chunk.planes[0].update(struct.pack(f"{count}f", *tone))
                chunk.sample_rate, chunk.pts, chunk.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
                output.mux(sound.encode(chunk))
            output.mux(sound.encode(None))
    return path


@pytest.fixture(scope="session")
def noise_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_noise_clip(tmp_path_factory.mktemp("noise") / "noise.mp4", audio=True)
