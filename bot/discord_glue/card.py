"""What a job's message says, as plain parts: built from the job's facts, laid out by `layout`.

The status message and the clip post share this shape, so both read alike and only
`layout` knows Discord's components. No discord imports here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.jobs.facts import Fact


class Tone(Enum):
    """How the card is coloured: by where the job stands."""

    WORKING = "working"
    DONE = "done"
    CANCELED = "canceled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Card:
    """Two cards are equal when they would look the same (the updater skips edits that change nothing)."""

    tone: Tone
    prompt: str
    # Short facts, shown together on one line (model, length, sound, seed, timing).
    facts: tuple[Fact, ...]
    footer: str
    title: str | None = None
    # A line above the title: the requester's mention on a clip post.
    lead: str | None = None
    # Longer facts, each on its own lines (queue place, progress, what went wrong).
    notes: tuple[Fact, ...] = ()
    # The file name of the clip attached to the same message, shown in the card.
    clip_file: str | None = None
