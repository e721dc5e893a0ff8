"""Every clip that can fit does, within two encodes: over generated hard content.

Noise, full-frame motion and static scenes with grain, with and without sound,
480p to 1080p, 2 to 15 s, each to a limit it starts well over. The clips are short
or small so the suite stays quick; `footage-bot bench fit --all` runs long 1080p ones.
The content and the encoder's threads are fixed, so every run encodes the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from bot.media.encoder import EncodeSlots
from bot.media.fit import MAX_ATTEMPTS, fit_to_limit, upload_budget
from bot.media.hard_clips import HardClip, write_hard_clip
from bot.media.probe import probe_video

CORPUS = [
    (HardClip("noise", 180, 3, audio=True), 150_000),
    (HardClip("noise", 480, 2, audio=True), 400_000),
    (HardClip("noise", 480, 3, audio=False), 2_000_000),
    (HardClip("motion", 720, 3, audio=False), 1_500_000),
    (HardClip("motion", 1080, 2, audio=True), 2_500_000),
    (HardClip("static", 1080, 2, audio=False), 600_000),
    (HardClip("static", 480, 15, audio=True), 1_500_000),
]


@pytest.mark.parametrize(("clip", "limit"), CORPUS, ids=[clip.name for clip, _ in CORPUS])
async def test_a_hard_clip_fits_within_two_encodes(
    clip: HardClip, limit: int, tmp_path: Path, slots: EncodeSlots
) -> None:
    source = write_hard_clip(clip, tmp_path / f"{clip.name}.mp4")
    before = probe_video(source)
    assert before.size_bytes > limit, "the clip must start over its limit"

    result = await fit_to_limit(source, limit, tmp_path / "fit", slots, info=before)

    assert result.fitted, result.detail
    assert 1 <= len(result.attempts) <= MAX_ATTEMPTS
    assert result.size == result.path.stat().st_size <= upload_budget(limit)
    assert result.info.duration == pytest.approx(clip.seconds, abs=0.1)
    assert result.info.width % 2 == 0 and result.info.height % 2 == 0
    assert min(result.info.width, result.info.height) <= 720
    with av.open(str(result.path)) as container:
        assert bool(container.streams.audio) is clip.audio
