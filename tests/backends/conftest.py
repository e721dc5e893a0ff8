"""Shared fixtures: a real little MP4, fast retry and timeout settings, request helpers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import av
import pytest

from .harness import PROVIDERS, Harness, start_harness


def _make_mp4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(16):
            frame = av.VideoFrame(64, 64, "rgb24")
            shade = (index * 15) % 256
            frame.planes[0].update(bytes([shade, 255 - shade, 128]) * (64 * 64))
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def mp4_bytes() -> bytes:
    return _make_mp4()


@pytest.fixture(params=PROVIDERS)
async def harness(request: pytest.FixtureRequest, mp4_bytes: bytes) -> AsyncIterator[Harness]:
    async with start_harness(request.param, mp4_bytes) as started:
        yield started
