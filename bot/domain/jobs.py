"""What a job is: its request, its states, and the reasons it can fail.

Plain data, no I/O. The store persists these; the service and runner move them
between states; the Discord side renders them.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    FETCHING = "fetching"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    CANCELED = "canceled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES

    @property
    def active(self) -> bool:
        """Holds a backend slot: dispatched and not yet finished."""
        return self in ACTIVE_STATES


FINISHED_STATES = frozenset({JobState.DELIVERED, JobState.CANCELED, JobState.FAILED})
ACTIVE_STATES = frozenset({JobState.SUBMITTING, JobState.RUNNING, JobState.FETCHING, JobState.DELIVERING})

# The only moves a job may make; anything else is refused by the store.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SUBMITTING, JobState.CANCELED, JobState.FAILED}),
    JobState.SUBMITTING: frozenset({JobState.RUNNING, JobState.CANCELED, JobState.FAILED}),
    # Straight to delivering where `fetching` is kept in memory only (bot/jobs/runner.py).
    JobState.RUNNING: frozenset({JobState.FETCHING, JobState.DELIVERING, JobState.CANCELED, JobState.FAILED}),
    JobState.FETCHING: frozenset({JobState.DELIVERING, JobState.CANCELED, JobState.FAILED}),
    JobState.DELIVERING: frozenset({JobState.DELIVERED, JobState.FAILED}),
    JobState.DELIVERED: frozenset(),
    JobState.CANCELED: frozenset(),
    JobState.FAILED: frozenset(),
}


def can_move(source: JobState, target: JobState) -> bool:
    return target in TRANSITIONS[source]


class ClipStep(StrEnum):
    """What happens to a fetched clip before it is posted; shown while the job is fetching, never stored."""

    WAITING_FOR_ENCODER = "waiting_for_encoder"
    REENCODING = "reencoding"

    @property
    def plain(self) -> str:
        return CLIP_STEP_TEXT[self]


CLIP_STEP_TEXT: dict[ClipStep, str] = {
    ClipStep.WAITING_FOR_ENCODER: "Too big to upload here: waiting for a free slot to shrink it",
    ClipStep.REENCODING: "Too big to upload here: shrinking it to fit",
}


class FailureReason(StrEnum):
    """The closed set of reasons a requester can be told, each in plain words."""

    CONTENT_POLICY = "content_policy"
    INVALID_REQUEST = "invalid_request"
    INPUT_IMAGE_UNAVAILABLE = "input_image_unavailable"
    BAD_INPUT_IMAGE = "bad_input_image"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    OUT_OF_CREDIT = "out_of_credit"
    TIMED_OUT = "timed_out"
    SUBMIT_INTERRUPTED = "submit_interrupted"
    BAD_OUTPUT = "bad_output"
    GENERATION_FAILED = "generation_failed"
    RESULT_EXPIRED = "result_expired"
    COULD_NOT_DELIVER = "could_not_deliver"
    UNDELIVERABLE = "undeliverable"
    INTERNAL_ERROR = "internal_error"

    @property
    def plain(self) -> str:
        return FAILURE_TEXT[self]


FAILURE_TEXT: dict[FailureReason, str] = {
    FailureReason.CONTENT_POLICY: "The video service rejected this prompt under its content policy.",
    FailureReason.INVALID_REQUEST: "The video service refused the request as invalid.",
    FailureReason.INPUT_IMAGE_UNAVAILABLE: (
        "The bot could not fetch the start image you attached, so nothing was sent to the video service. "
        "Attach it again and retry."
    ),
    FailureReason.BAD_INPUT_IMAGE: "The start image you attached cannot be used (it must be a PNG, JPEG or WebP).",
    FailureReason.BACKEND_UNAVAILABLE: "The video service is unavailable right now. Try again later.",
    FailureReason.OUT_OF_CREDIT: "The video service account is out of credit. Tell the bot's admin.",
    FailureReason.TIMED_OUT: "The video service took too long and the job timed out.",
    FailureReason.SUBMIT_INTERRUPTED: (
        "The bot restarted while sending this job, and the service cannot tell whether it arrived, "
        "so it was stopped rather than risk paying twice."
    ),
    FailureReason.BAD_OUTPUT: "The video service returned a file that is not a playable video.",
    FailureReason.GENERATION_FAILED: "The video service could not generate this clip. Try again or change the prompt.",
    FailureReason.RESULT_EXPIRED: "The finished video expired at the service before it could be downloaded.",
    FailureReason.COULD_NOT_DELIVER: "The clip was made but could not be posted here.",
    FailureReason.UNDELIVERABLE: "The channel for this job is gone; use /show to get the clip.",
    FailureReason.INTERNAL_ERROR: "Something went wrong inside the bot. The admin can find details in its log.",
}

# Unambiguous: no 0/O, 1/I/L, so ids survive being read aloud or retyped.
JOB_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
JOB_ID_LENGTH = 8


MAX_SEED = 2**32 - 1

# Ids and seeds must differ from job to job, not be secret (a job's id grants nothing:
# every action checks who asks), so a generator seeded once from the OS is enough,
# and spares a system call per draw. A forked child draws its own (as `random` does).
_draws = random.Random()
os.register_at_fork(after_in_child=_draws.seed)


def new_seed() -> int:
    return _draws.randint(0, MAX_SEED)


def new_job_id() -> str:
    number = _draws.randrange(len(JOB_ID_ALPHABET) ** JOB_ID_LENGTH)  # one draw, not one per letter
    letters = []
    for _ in range(JOB_ID_LENGTH):
        number, digit = divmod(number, len(JOB_ID_ALPHABET))
        letters.append(JOB_ID_ALPHABET[digit])
    return "".join(letters)


def normalize_job_id(text: str) -> str:
    return text.strip().upper()


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What the requester asked for. `image_url` is an http(s) URL or a local file path."""

    prompt: str
    model: str
    seconds: int
    aspect: str
    seed: int | None = None
    negative_prompt: str | None = None
    image_url: str | None = None
    # With sound or not: the requester's choice, or the model's when queued. None: not recorded
    # (a job from before the bot kept it), so the model's default applies.
    audio: bool | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a job came from and where its result goes."""

    guild_id: int
    channel_id: int
    user_id: int
    upload_limit: int  # bytes, as Discord gave it for this interaction or guild


@dataclass(slots=True)
class Job:
    id: str
    origin: Origin
    request: JobRequest
    state: JobState
    created_at: datetime
    updated_at: datetime
    kind: str = "generate"  # generate | retry | remix
    parent_id: str | None = None
    lane: int = 0  # 0 normal, 1 relax (past quota, lowest priority)
    sched_tag: float = 0.0
    weight: float = 1.0  # the requester's scheduling weight when it was queued
    max_running: int = 1  # the requester's running limit when it was queued
    cost_seconds: int = 0
    cost_micros: int = 0  # the estimated cost reserved with the seconds (bot.domain.money)
    backend: str = ""
    backend_job_id: str | None = None
    backend_data: dict[str, str] = field(default_factory=dict)
    progress: float | None = None
    provider_queue_position: int | None = None
    clip_step: ClipStep | None = None  # in memory only: the store never reads or writes it
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result_path: str | None = None
    result_url: str | None = None
    failure: FailureReason | None = None
    failure_detail: str | None = None
    status_channel_id: int | None = None
    status_message_id: int | None = None
    result_message_id: int | None = None
    # Set when the clip went by direct message (the bot could not post in the channel):
    # the DM channel holding `result_message_id`.
    result_dm_channel_id: int | None = None
    # Live only, never stored: why a job that has left the queue is not moving (a provider's 429).
    waiting_reason: str | None = None

    def evolve(self, **changes: Any) -> Job:
        """A copy with `changes`: `dataclasses.replace` without its per-field checks (every checkpoint makes one)."""
        copy = Job(*_job_values(self))
        for name, value in changes.items():
            setattr(copy, name, value)
        return copy

    @property
    def guild_id(self) -> int:
        return self.origin.guild_id

    @property
    def user_id(self) -> int:
        return self.origin.user_id

    @property
    def model(self) -> str:
        return self.request.model


class WaitingJob(NamedTuple):
    """What the fair queue needs of a waiting job, as the store reads it back in insertion order.

    The queue keeps only this much per job (the whole job is read when it starts);
    `seq` is the job's place in the store's insertion order, where the next page begins.
    """

    seq: int
    id: str
    guild_id: int
    user_id: int
    lane: int
    sched_tag: float
    model: str
    backend: str
    max_running: int


_job_values = attrgetter(*(job_field.name for job_field in fields(Job)))
