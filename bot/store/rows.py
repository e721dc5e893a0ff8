"""How a job is laid out in a row, the same in every dialect: its columns, which a caller
may change, and the decoding of a row into a `Job`."""

from __future__ import annotations

import json
from typing import Any, Protocol

from bot.clock import from_epoch, to_epoch
from bot.domain.jobs import FailureReason, Job, JobRequest, JobState, Origin


class Row(Protocol):
    """A result row read by column name (`sqlite3.Row`, or a dict from a row factory)."""

    def __getitem__(self, key: str, /) -> Any: ...


JOB_COLUMNS = (
    "id, kind, parent_id, guild_id, channel_id, user_id, upload_limit, prompt, negative_prompt, model, "
    "seconds, aspect, seed, image_url, state, lane, sched_tag, weight, max_running, cost_seconds, backend, "
    "backend_job_id, backend_data, progress, provider_queue_position, created_at, updated_at, started_at, "
    "finished_at, result_path, result_url, failure, failure_detail, status_channel_id, status_message_id, "
    "result_message_id"
)
JOB_COLUMN_COUNT = JOB_COLUMNS.count(",") + 1

# Columns a caller may change with `update_job` / `move_job`.
MUTABLE_COLUMNS = frozenset(
    {
        "backend_job_id", "backend_data", "progress", "provider_queue_position", "started_at", "finished_at",
        "result_path", "result_url", "failure", "failure_detail", "status_channel_id", "status_message_id",
        "result_message_id", "seed",
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
        job.weight, job.max_running, job.cost_seconds, job.backend, job.backend_job_id,
        json.dumps(dict(job.backend_data)), job.progress, job.provider_queue_position,
        to_epoch(job.created_at), to_epoch(job.updated_at), None, None, None, None, None, None,
        job.status_channel_id, job.status_message_id, job.result_message_id,
    )  # fmt: skip


def job_from_row(row: Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        parent_id=row["parent_id"],
        origin=Origin(row["guild_id"], row["channel_id"], row["user_id"], row["upload_limit"]),
        request=JobRequest(
            prompt=row["prompt"],
            model=row["model"],
            seconds=row["seconds"],
            aspect=row["aspect"],
            seed=row["seed"],
            negative_prompt=row["negative_prompt"],
            image_url=row["image_url"],
        ),
        state=JobState(row["state"]),
        created_at=from_epoch(row["created_at"]),
        updated_at=from_epoch(row["updated_at"]),
        lane=row["lane"],
        sched_tag=row["sched_tag"],
        weight=row["weight"],
        max_running=row["max_running"],
        cost_seconds=row["cost_seconds"],
        backend=row["backend"],
        backend_job_id=row["backend_job_id"],
        backend_data=json.loads(row["backend_data"]),
        progress=row["progress"],
        provider_queue_position=row["provider_queue_position"],
        started_at=from_epoch(row["started_at"]) if row["started_at"] is not None else None,
        finished_at=from_epoch(row["finished_at"]) if row["finished_at"] is not None else None,
        result_path=row["result_path"],
        result_url=row["result_url"],
        failure=FailureReason(row["failure"]) if row["failure"] else None,
        failure_detail=row["failure_detail"],
        status_channel_id=row["status_channel_id"],
        status_message_id=row["status_message_id"],
        result_message_id=row["result_message_id"],
    )
