"""What a job's messages say about it, in words and without Discord; the glue lays them out."""

from __future__ import annotations

from bot.domain.jobs import JobRequest


def sound_words(has_sound: bool) -> str:
    return "with sound" if has_sound else "no sound"


def clip_shape(request: JobRequest) -> str:
    """Length, aspect and sound as asked, e.g. "5 s · 16:9 · with sound" (sound only where the job records it)."""
    parts = [f"{request.seconds} s", request.aspect]
    if request.audio is not None:
        parts.append(sound_words(request.audio))
    return " · ".join(parts)
