"""What a status message says: its card, rendered from the job alone (no discord imports).

`status` sends and edits it; `/show` and `/queue` reuse its parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.discord_glue import text
from bot.discord_glue.card import Card, Tone
from bot.domain.jobs import Job, JobState
from bot.jobs.facts import Fact, request_facts
from bot.jobs.scheduler import EXACT_POSITIONS, QueuePlace

if TYPE_CHECKING:
    from bot.core import Core

PROMPT_LIMIT = 1000
FAILURE_DETAIL_LIMIT = 300

STATE_LABEL: dict[JobState, str] = {
    JobState.QUEUED: "⏳ Waiting in the queue",
    JobState.SUBMITTING: "📤 Sending to the video service",
    JobState.RUNNING: "🎬 Generating",
    JobState.FETCHING: "📥 Downloading the clip",
    JobState.DELIVERING: "📤 Posting the clip",
    JobState.DELIVERED: "✅ Done",
    JobState.CANCELED: "🚫 Canceled",
    JobState.FAILED: "❌ Failed",
}

STATE_TONE: dict[JobState, Tone] = {
    JobState.DELIVERED: Tone.DONE,
    JobState.CANCELED: Tone.CANCELED,
    JobState.FAILED: Tone.FAILED,
}


def queue_text(place: QueuePlace) -> str:
    """Where a waiting job stands. Far back only "far back", and no ETA while paused."""
    where = f"Position {place.position}" if place.exact else f"At least {EXACT_POSITIONS} jobs ahead of this one"
    if place.paused:
        return f"{where} · the queue is paused here: nothing starts until an admin resumes it"
    if not place.exact:
        return where
    return f"{where} · ready in about {text.duration(place.eta_seconds)}"


def _timing(job: Job) -> tuple[str, str]:
    """How long it took once finished; while not, when it was asked (the reader's client counts from there)."""
    if job.finished_at is not None:
        return "Took", text.duration((job.finished_at - job.created_at).total_seconds())
    return "Asked", text.relative(job.created_at)


def clip_link(job: Job) -> str | None:
    """Where the posted clip is: in the job's channel, or in the requester's DMs (a link only they can open)."""
    if job.result_message_id is None:
        return None
    if job.result_dm_channel_id is not None:
        return text.message_link(None, job.result_dm_channel_id, job.result_message_id)
    return text.message_link(job.guild_id, job.origin.channel_id, job.result_message_id)


def clip_text(job: Job) -> str:
    link = clip_link(job)
    if job.result_dm_channel_id is not None:
        return (
            "The bot may not post in this channel, so the clip was sent to its requester by direct message "
            f"([open it in your DMs]({link}))."
        )
    return f"[Jump to the clip]({link})"


# Jobs the low-disk guard holds: a queued job does not start, a finished render is not fetched.
HELD_BY_DISK = frozenset({JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING, JobState.FETCHING})
DISK_NOTE = "⚠️ The bot is waiting for disk space; this job continues once the admin frees some."


def progress_note(job: Job) -> Fact | None:
    if job.state is JobState.SUBMITTING and job.waiting_reason is not None:
        return Fact("Progress", job.waiting_reason)
    if job.state is JobState.RUNNING:
        if job.progress is not None:
            return Fact("Progress", f"`{text.bar(job.progress)}` {round(job.progress * 100)}%")
        if job.provider_queue_position is not None:
            return Fact("Progress", f"Waiting at the video service (position {job.provider_queue_position})")
        return Fact("Progress", "Started")
    if job.state is JobState.FETCHING and job.clip_step is not None:
        return Fact("Progress", job.clip_step.plain)
    return None


def status_notes(job: Job, place: QueuePlace | None, *, disk_low: bool) -> tuple[Fact, ...]:
    notes: list[Fact] = []
    if job.state is JobState.QUEUED and place is not None:
        notes.append(Fact("Queue", queue_text(place)))
    if (progress := progress_note(job)) is not None:
        notes.append(progress)
    if disk_low and job.state in HELD_BY_DISK:
        notes.append(Fact("Waiting for disk space", DISK_NOTE))
    if job.state is JobState.FAILED and job.failure is not None:
        reason = job.failure.plain
        if job.failure_detail:
            reason += f"\n{text.shorten(job.failure_detail, FAILURE_DETAIL_LIMIT)}"
        notes.append(Fact("What happened", reason))
        if job.cost_seconds:
            notes.append(Fact("Quota", "Nothing was charged for this job."))
    if job.state is JobState.DELIVERED and job.result_message_id is not None:
        notes.append(Fact("Clip", clip_text(job)))
    return tuple(notes)


def status_card(
    job: Job,
    place: QueuePlace | None,
    *,
    sound: bool | None,
    disk_low: bool = False,
    note: Fact | None = None,
    clip_file: str | None = None,
) -> Card:
    """The status card; `note` and `clip_file` are for /show (why the clip is not attached, or the clip)."""
    return Card(
        tone=STATE_TONE.get(job.state, Tone.WORKING),
        title=STATE_LABEL[job.state],
        prompt=text.shorten(job.request.prompt, PROMPT_LIMIT),
        facts=(*request_facts(job.request, sound), Fact(*_timing(job))),
        notes=(*status_notes(job, place, disk_low=disk_low), *(() if note is None else (note,))),
        footer=job_footer(job),
        clip_file=clip_file,
    )


def job_footer(job: Job) -> str:
    return f"Job {job.id}"


def job_sound(core: Core, job: Job) -> bool | None:
    """Whether the job's clip has sound: as the job was queued, or, for a job from before the bot
    recorded it, what its model makes; None when neither is known (the model is gone)."""
    if job.request.audio is not None:
        return job.request.audio
    spec = core.catalog.get(job.request.model)
    return None if spec is None else spec.audio
