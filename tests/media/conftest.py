"""Real clips for the fit tests, from the same generator `bench fit` uses, and the encoder they share."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.media.encoder import EncoderLimits, EncodeSlots
from bot.media.hard_clips import HardClip, write_hard_clip

# Fixed, not from the machine: x264's output depends on its thread count.
TEST_LIMITS = EncoderLimits(parallel=1, threads=2, memory_bytes=1024 * 1024 * 1024)
NOISE = HardClip("noise", 180, 3, audio=True)


@pytest.fixture(scope="session")
def noise_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of 320x180 noise at 24 fps with sound: compresses badly, so it is big."""
    return write_hard_clip(NOISE, tmp_path_factory.mktemp("noise") / "noise.mp4")


@pytest.fixture
def slots() -> EncodeSlots:
    return EncodeSlots(TEST_LIMITS)
