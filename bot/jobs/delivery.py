"""What the core asks of whoever posts finished clips (the Discord side, or a test)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.jobs import FailureReason, Job
from bot.media.probe import VideoInfo


@dataclass(frozen=True, slots=True)
class Clip:
    path: Path
    info: VideoInfo
    fits: bool  # under the job's upload limit; when False, post `source_url` instead (if any)
    source_url: str | None


@dataclass(frozen=True, slots=True)
class Delivered:
    message_id: int
    linked_only: bool = False  # the file was too big: a link was posted instead
    dm_channel_id: int | None = None  # sent by direct message, in this DM channel


@dataclass(frozen=True, slots=True)
class Undeliverable:
    reason: FailureReason  # COULD_NOT_DELIVER or UNDELIVERABLE
    detail: str


DeliveryOutcome = Delivered | Undeliverable


class Deliverer(Protocol):
    async def deliver(self, job: Job, clip: Clip) -> DeliveryOutcome:
        """Post the clip for `job` exactly once.

        Called again after a crash mid-post: must not post twice (use a nonce derived
        from the job id, and `job.result_message_id` when already known).
        """
