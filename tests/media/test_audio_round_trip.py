"""A clip with sound, fetched from a provider and fitted under a small limit, still has sound."""

from __future__ import annotations

from pathlib import Path

from bot.media.encoder import EncodeSlots
from bot.media.fit import fit_to_limit
from bot.media.hard_clips import HardClip, write_hard_clip
from bot.media.probe import probe_video
from tests.backends.harness import start_harness

MAX_BYTES = 50 * 1024 * 1024
MOTION_WITH_SOUND = HardClip("motion", 360, 4, audio=True)


async def test_sound_survives_the_fetch_and_the_fit(tmp_path: Path, slots: EncodeSlots) -> None:
    source = write_hard_clip(MOTION_WITH_SOUND, tmp_path / "provider.mp4")
    async with start_harness("fal", source.read_bytes()) as fal:
        job = await fal.backend.submit(fal.request())
        result = (await fal.run(job))[-1]
        fetched = await fal.backend.fetch(job, result, tmp_path / "fetched.mp4", MAX_BYTES)
    assert fetched.info.has_audio

    limit = fetched.info.size_bytes // 3
    fitted = await fit_to_limit(fetched.path, limit, tmp_path / "work", slots, info=fetched.info)

    assert fitted.fitted and fitted.reencoded
    assert fitted.size <= limit
    assert probe_video(fitted.path).has_audio
    assert fitted.info.has_audio
