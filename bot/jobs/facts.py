"""What a job's messages say about it, in words and without Discord; the glue lays them out."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.jobs import JobRequest


@dataclass(frozen=True, slots=True)
class Fact:
    """One named thing a message says about a job ("Model": "demo")."""

    name: str
    value: str


def sound_words(has_sound: bool) -> str:
    return "with sound" if has_sound else "no sound"


def seed_words(seed: int | None) -> str:
    return str(seed) if seed is not None else "random"


def length_words(request: JobRequest) -> str:
    return f"{request.seconds} s · {request.aspect}"


def clip_shape(request: JobRequest) -> str:
    """Length, aspect and sound as asked, e.g. "5 s · 16:9 · with sound" (sound only where the job records it)."""
    if request.audio is None:
        return length_words(request)
    return f"{length_words(request)} · {sound_words(request.audio)}"


def request_facts(request: JobRequest, sound: bool | None) -> tuple[Fact, ...]:
    """Model, length, sound (when known: the clip's own, else as the job was asked) and seed."""
    facts = [Fact("Model", request.model), Fact("Length", length_words(request))]
    if sound is not None:
        facts.append(Fact("Sound", sound_words(sound)))
    facts.append(Fact("Seed", seed_words(request.seed)))
    return tuple(facts)
