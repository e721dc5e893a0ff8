"""How a job is laid out in a row, the same in every dialect: its columns, which a caller
may change, and the decoding of a row into a `Job`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.clock import from_epoch, to_epoch
from bot.domain.jobs import FailureReason, Job, JobRequest, JobState, Origin

JOB_COLUMNS = (
    "id, kind, parent_id, guild_id, channel_id, user_id, upload_limit, prompt, negative_prompt, model, "
    "seconds, aspect, seed, image_url, state, lane, sched_tag, weight, max_running, cost_seconds, cost_micros, "
    "backend, backend_job_id, backend_data, progress, provider_queue_position, created_at, updated_at, started_at, "
    "finished_at, result_path, result_url, failure, failure_detail, status_channel_id, status_message_id, "
    "result_message_id, result_dm_channel_id, audio"
)
JOB_COLUMN_COUNT = JOB_COLUMNS.count(",") + 1

# Columns a caller may change with `update_job` / `move_job`.
MUTABLE_COLUMNS = frozenset(
    {
        "backend_job_id", "backend_data", "progress", "provider_queue_position", "started_at", "finished_at",
        "result_path", "result_url", "failure", "failure_detail", "status_channel_id", "status_message_id",
        "result_message_id", "result_dm_channel_id", "seed",
    }
)  # fmt: skip

# Columns that change while the runner holds a job: the Discord side records its messages.
CHANGED_ELSEWHERE = ("status_channel_id", "status_message_id", "result_message_id")


def check_mutable(changes: dict[str, Any]) -> None:
    unknown = set(changes) - MUTABLE_COLUMNS
    if unknown:
        raise ValueError(f"cannot change job columns {sorted(unknown)}")


def stored_value(column: str, value: Any) -> Any:
    """A `MUTABLE_COLUMNS` value as the row holds it: times as epoch seconds, provider data as JSON."""
    if column == "backend_data":
        return json.dumps(dict(value))
    return to_epoch(value) if hasattr(value, "timestamp") else value


def field_value(column: str, value: Any) -> Any:
    """A `MUTABLE_COLUMNS` column's value as the Job field holds it."""
    if column in ("started_at", "finished_at") and isinstance(value, int | float):
        return from_epoch(value)
    if column == "failure":
        return FailureReason(value) if value else None
    if column == "backend_data":
        return dict(value)
    return value


def job_values(job: Job) -> tuple[Any, ...]:
    """A new job's row, in `JOB_COLUMNS` order."""
    request, origin = job.request, job.origin
    return (
        job.id, job.kind, job.parent_id, origin.guild_id, origin.channel_id, origin.user_id,
        origin.upload_limit, request.prompt, request.negative_prompt, request.model, request.seconds,
        request.aspect, request.seed, request.image_url, job.state.value, job.lane, job.sched_tag,
        job.weight, job.max_running, job.cost_seconds, job.cost_micros, job.backend, job.backend_job_id,
        json.dumps(dict(job.backend_data)), job.progress, job.provider_queue_position,
        to_epoch(job.created_at), to_epoch(job.updated_at), None, None, None, None, None, None,
        job.status_channel_id, job.status_message_id, job.result_message_id, job.result_dm_channel_id,
        request.audio,
    )  # fmt: skip


def job_from_row(row: Iterable[Any]) -> Job:
    """A job from a row of `JOB_COLUMNS`, by position (sqlite3.Row and tuples alike)."""
    (job_id, kind, parent_id, guild_id, channel_id, user_id, upload_limit, prompt, negative_prompt, model,
     seconds, aspect, seed, image_url, state, lane, sched_tag, weight, max_running, cost_seconds, cost_micros,
     backend, backend_job_id, backend_data, progress, provider_queue_position, created_at, updated_at, started_at,
     finished_at, result_path, result_url, failure, failure_detail, status_channel_id, status_message_id,
     result_message_id, result_dm_channel_id, audio) = row  # fmt: skip
    return Job(
        id=job_id,
        kind=kind,
        parent_id=parent_id,
        origin=Origin(guild_id, channel_id, user_id, upload_limit),
        request=JobRequest(
            prompt=prompt,
            model=model,
            seconds=seconds,
            aspect=aspect,
            seed=seed,
            negative_prompt=negative_prompt,
            image_url=image_url,
            audio=None if audio is None else bool(audio),  # SQLite keeps 0/1
        ),
        state=JobState(state),
        created_at=from_epoch(created_at),
        updated_at=from_epoch(updated_at),
        lane=lane,
        sched_tag=sched_tag,
        weight=weight,
        max_running=max_running,
        cost_seconds=cost_seconds,
        cost_micros=cost_micros,
        backend=backend,
        backend_job_id=backend_job_id,
        backend_data=json.loads(backend_data),
        progress=progress,
        provider_queue_position=provider_queue_position,
        started_at=from_epoch(started_at) if started_at is not None else None,
        finished_at=from_epoch(finished_at) if finished_at is not None else None,
        result_path=result_path,
        result_url=result_url,
        failure=FailureReason(failure) if failure else None,
        failure_detail=failure_detail,
        status_channel_id=status_channel_id,
        status_message_id=status_message_id,
        result_message_id=result_message_id,
        result_dm_channel_id=result_dm_channel_id,
    )
