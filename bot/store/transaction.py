"""Every SQL statement the bot runs, grouped on one object bound to a connection.

Callers hand `Store.write()` or `Store.read()` a function of a `Tx`; it runs on the
database's thread, possibly twice (see Database), so it must only compute and query,
never await, touch the event loop or act outside the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from bot.clock import from_epoch, to_epoch
from bot.jobs.domain import FailureReason, Job, JobRequest, JobState, Origin, can_move
from bot.jobs.scheduler import finish_tag
from bot.quotas.tiers import Tier
from bot.store.guild_cache import GuildCache
from bot.store.records import BlockRule, GuildConfig, LedgerEntry, LedgerMismatch, Usage, UsageRow


class StaleState(Exception):
    """The job was not in the state the caller expected (another task moved it)."""


class InvalidTransition(Exception):
    pass


_FINISHED = ("delivered", "canceled", "failed")
_JOB_COLUMNS = (
    "id, kind, parent_id, guild_id, channel_id, user_id, upload_limit, prompt, negative_prompt, model, "
    "seconds, aspect, seed, image_url, state, lane, sched_tag, weight, max_running, cost_seconds, backend, "
    "backend_job_id, backend_data, progress, provider_queue_position, created_at, updated_at, started_at, "
    "finished_at, result_path, result_url, failure, failure_detail, status_channel_id, status_message_id, "
    "result_message_id"
)
# Columns a caller may change with `update_job` / `move_job`.
_MUTABLE = frozenset(
    {
        "backend_job_id", "backend_data", "progress", "provider_queue_position", "started_at", "finished_at",
        "result_path", "result_url", "failure", "failure_detail", "status_channel_id", "status_message_id",
        "result_message_id", "seed",
    }
)  # fmt: skip


# Columns that change while the runner holds a job: the Discord side records its messages.
_CHANGED_ELSEWHERE = ("status_channel_id", "status_message_id", "result_message_id")


def _as_field(column: str, value: Any) -> Any:
    """A `_MUTABLE` column's value as the Job field holds it."""
    if column in ("started_at", "finished_at") and isinstance(value, int | float):
        return from_epoch(value)
    if column == "failure":
        return FailureReason(value) if value else None
    if column == "backend_data":
        return dict(value)
    return value


def _epoch(value: Any) -> Any:
    return to_epoch(value) if hasattr(value, "timestamp") else value


def job_from_row(row: sqlite3.Row) -> Job:
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


class Tx:
    """The statements, run synchronously on the database's thread inside a batch (see Database)."""

    def __init__(self, connection: sqlite3.Connection, cache: GuildCache) -> None:
        self._db = connection
        self._cache = cache

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    # Jobs

    def insert_job(self, job: Job) -> None:
        request, origin = job.request, job.origin
        self._run(
            f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join('?' * 36)})",
            (
                job.id, job.kind, job.parent_id, origin.guild_id, origin.channel_id, origin.user_id,
                origin.upload_limit, request.prompt, request.negative_prompt, request.model, request.seconds,
                request.aspect, request.seed, request.image_url, job.state.value, job.lane, job.sched_tag,
                job.weight, job.max_running, job.cost_seconds, job.backend, job.backend_job_id,
                json.dumps(dict(job.backend_data)), job.progress, job.provider_queue_position,
                to_epoch(job.created_at), to_epoch(job.updated_at), None, None, None, None, None, None,
                job.status_channel_id, job.status_message_id, job.result_message_id,
            ),
        )  # fmt: skip

    def get_job(self, job_id: str) -> Job | None:
        row = self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(row) if row else None

    def move_job(self, job: Job, target: JobState, now: float, **changes: Any) -> Job:
        """Move `job` from the state it holds to `target`, refusing any move TRANSITIONS forbids."""
        if not can_move(job.state, target):
            raise InvalidTransition(f"job {job.id}: {job.state.value} -> {target.value} is not allowed")
        assignments, values = self._assignments(changes)
        if target.finished:
            assignments.append("finished_at = ?")
            values.append(now)
        row = self._one(
            f"UPDATE jobs SET state = ?, updated_at = ?{''.join(', ' + a for a in assignments)} "
            f"WHERE id = ? AND state = ? RETURNING {', '.join(_CHANGED_ELSEWHERE)}",
            (target.value, now, *values, job.id, job.state.value),
        )
        if row is None:
            raise StaleState(f"job {job.id} is no longer {job.state.value}")
        # The caller's copy with the move applied, plus what others may have written meanwhile
        # (cheaper than decoding the whole row, which was most of a checkpoint's cost).
        fields: dict[str, Any] = dict(zip(_CHANGED_ELSEWHERE, row, strict=True))
        fields.update((name, _as_field(name, value)) for name, value in changes.items())
        if target.finished:
            fields["finished_at"] = from_epoch(now)
        return job.evolve(state=target, updated_at=from_epoch(now), **fields)

    def update_job(self, job_id: str, now: float, **changes: Any) -> None:
        assignments, values = self._assignments(changes)
        self._run(
            f"UPDATE jobs SET updated_at = ?{''.join(', ' + a for a in assignments)} WHERE id = ?",
            (now, *values, job_id),
        )

    @staticmethod
    def _assignments(changes: dict[str, Any]) -> tuple[list[str], list[Any]]:
        unknown = set(changes) - _MUTABLE
        if unknown:
            raise ValueError(f"cannot change job columns {sorted(unknown)}")
        values = [
            json.dumps(dict(value)) if name == "backend_data" else _epoch(value) for name, value in changes.items()
        ]
        return [f"{name} = ?" for name in changes], values

    def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        names = [state.value for state in states]
        rows = self._all(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({', '.join('?' * len(names))}) ORDER BY rowid",
            names,
        )
        return [job_from_row(row) for row in rows]

    def highest_started_tag(self) -> float | None:
        """The largest fair-queue tag among normal-lane jobs that left the queue."""
        row = self._one("SELECT MAX(sched_tag) FROM jobs WHERE lane = 0 AND state != 'queued'")
        return None if row is None or row[0] is None else float(row[0])

    def user_finish_tag(self, guild_id: int, user_id: int) -> float | None:
        """Where the fair queue's share of the member's latest job ends (tags grow job by job).

        A job canceled before it started running never used its share, so it is not counted.
        """
        row = self._one(
            "SELECT sched_tag, cost_seconds, weight FROM jobs WHERE guild_id = ? AND user_id = ? "
            "AND NOT (state = 'canceled' AND started_at IS NULL) ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (guild_id, user_id),
        )
        return None if row is None else finish_tag(row[0], row[1], row[2])

    def count_user_jobs(self, guild_id: int, user_id: int, states: Iterable[JobState]) -> int:
        names = [state.value for state in states]
        marks = ", ".join("?" * len(names))
        row = self._one(
            f"SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND state IN ({marks})",
            (guild_id, user_id, *names),
        )
        return int(row[0]) if row else 0

    def count_queued_jobs(self, guild_id: int, user_id: int) -> int:
        """A member's waiting jobs; the state is written out so the waiting-jobs index serves it."""
        row = self._one(
            "SELECT COUNT(*) FROM jobs WHERE guild_id = ? AND user_id = ? AND state = 'queued'", (guild_id, user_id)
        )
        return int(row[0]) if row else 0

    def open_retry(self, parent_id: str) -> Job | None:
        row = self._one(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE parent_id = ? AND kind = 'retry' AND state NOT IN {_FINISHED}",
            (parent_id,),
        )
        return job_from_row(row) if row else None

    def user_jobs(self, guild_id: int, user_id: int, *, unfinished: bool, limit: int) -> list[Job]:
        where = f" AND state NOT IN {_FINISHED}" if unfinished else ""
        rows = self._all(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE guild_id = ? AND user_id = ?{where} "
            "ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (guild_id, user_id, limit),
        )
        return [job_from_row(row) for row in rows]

    def guild_open_jobs(self, guild_id: int, limit: int) -> list[Job]:
        rows = self._all(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE guild_id = ? AND state NOT IN {_FINISHED} ORDER BY rowid LIMIT ?",
            (guild_id, limit),
        )
        return [job_from_row(row) for row in rows]

    # Ledger

    def add_ledger(self, job: Job, entries: Sequence[LedgerEntry], now: float) -> None:
        """Write `entries` for `job` in one statement."""
        params: list[Any] = []
        for entry in entries:
            params += (job.id, job.guild_id, job.user_id, job.request.model, entry.kind, entry.seconds,
                       entry.jobs, entry.cost, to_epoch(job.created_at), now)  # fmt: skip
        self._run(
            "INSERT INTO ledger (job_id, guild_id, user_id, model, entry, seconds, jobs, cost, window_at, at) "
            f"VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'] * len(entries))}",
            params,
        )

    def user_usage(
        self, guild_id: int, user_id: int, day: tuple[float, float], month: tuple[float, float]
    ) -> tuple[Usage, Usage]:
        """A member's usage in the day and month windows, in one pass over their ledger rows."""
        inside = "window_at >= ? AND window_at < ?"
        row = self._one(
            f"SELECT COALESCE(SUM(CASE WHEN {inside} THEN seconds END), 0), "
            f"COALESCE(SUM(CASE WHEN {inside} THEN jobs END), 0), "
            "COALESCE(SUM(seconds), 0), COALESCE(SUM(jobs), 0) FROM ledger "
            f"WHERE guild_id = ? AND user_id = ? AND {inside}",
            (*day, *day, guild_id, user_id, *month),
        )
        if row is None:
            return Usage(0, 0), Usage(0, 0)
        return Usage(int(row[0]), int(row[1])), Usage(int(row[2]), int(row[3]))

    def guild_usage(self, guild_id: int, start: float, end: float) -> Usage:
        row = self._one(
            "SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(jobs), 0) FROM ledger "
            "WHERE guild_id = ? AND window_at >= ? AND window_at < ?",
            (guild_id, start, end),
        )
        return Usage(int(row[0]), int(row[1])) if row else Usage(0, 0)

    def ledger_mismatches(self) -> list[LedgerMismatch]:
        """Jobs whose ledger rows don't add up to what their state says they hold.

        Unfinished: the reservation (cost_seconds). Delivered: the charge. Failed or
        canceled: zero. Summed over all jobs this is "reserved + used = ledger".
        """
        rows = self._all(
            """
            SELECT jobs.id, jobs.state, jobs.cost_seconds,
                   COALESCE(totals.seconds, 0) AS ledger_seconds, COALESCE(totals.charged, 0) AS charged
            FROM jobs LEFT JOIN (
                -- One pass over the ledger, grouped: it has no index by job (see migration 0002).
                SELECT job_id, SUM(seconds) AS seconds, SUM(CASE WHEN entry = 'charge' THEN seconds END) AS charged
                FROM ledger GROUP BY job_id
            ) AS totals ON totals.job_id = jobs.id
            """
        )
        mismatches = []
        for row in rows:
            state = row["state"]
            if state in ("failed", "canceled"):
                expected = 0
            elif state == "delivered":
                expected = int(row["charged"])
            else:
                expected = int(row["cost_seconds"])
            if expected != int(row["ledger_seconds"]):
                mismatches.append(LedgerMismatch(row["id"], state, expected, int(row["ledger_seconds"])))
        return mismatches

    def usage_rows(self, guild_id: int, since: float) -> list[UsageRow]:
        rows = self._all(
            "SELECT user_id, model, SUM(seconds), SUM(jobs), SUM(cost) FROM ledger "
            "WHERE guild_id = ? AND entry = 'charge' AND window_at >= ? "
            "GROUP BY user_id, model ORDER BY SUM(seconds) DESC",
            (guild_id, since),
        )
        return [UsageRow(row[0], row[1], int(row[2]), int(row[3]), float(row[4])) for row in rows]

    # Tiers

    def tiers(self, guild_id: int) -> dict[str, Tier]:
        return self._cache.tiers(guild_id, lambda: self._load_tiers(guild_id))

    def _load_tiers(self, guild_id: int) -> dict[str, Tier]:
        rows = self._all(
            "SELECT name, daily_seconds, monthly_seconds, max_running, max_queued, max_clip_seconds, weight, "
            "relax_allowed FROM tiers WHERE guild_id = ? ORDER BY name",
            (guild_id,),
        )
        return {row[0]: Tier(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7])) for row in rows}

    def upsert_tier(self, guild_id: int, tier: Tier) -> None:
        self._cache.forget(guild_id)
        self._run(
            "INSERT OR REPLACE INTO tiers (guild_id, name, daily_seconds, monthly_seconds, max_running, max_queued, "
            "max_clip_seconds, weight, relax_allowed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (guild_id, tier.name, tier.daily_seconds, tier.monthly_seconds, tier.max_running, tier.max_queued,
             tier.max_clip_seconds, tier.weight, int(tier.relax_allowed)),
        )  # fmt: skip

    def delete_tier(self, guild_id: int, name: str) -> int:
        self._cache.forget(guild_id)
        self._run("DELETE FROM role_tiers WHERE guild_id = ? AND tier_name = ?", (guild_id, name))
        self._run("DELETE FROM user_tiers WHERE guild_id = ? AND tier_name = ?", (guild_id, name))
        return self._run("DELETE FROM tiers WHERE guild_id = ? AND name = ?", (guild_id, name))

    def role_tiers(self, guild_id: int) -> dict[int, str]:
        return self._cache.role_tiers(guild_id, lambda: self._load_role_tiers(guild_id))

    def _load_role_tiers(self, guild_id: int) -> dict[int, str]:
        rows = self._all("SELECT role_id, tier_name FROM role_tiers WHERE guild_id = ?", (guild_id,))
        return {row[0]: row[1] for row in rows}

    def set_role_tier(self, guild_id: int, role_id: int, tier_name: str | None) -> None:
        self._cache.forget(guild_id)
        if tier_name is None:
            self._run("DELETE FROM role_tiers WHERE guild_id = ? AND role_id = ?", (guild_id, role_id))
        else:
            self._run(
                "INSERT OR REPLACE INTO role_tiers (guild_id, role_id, tier_name) VALUES (?, ?, ?)",
                (guild_id, role_id, tier_name),
            )

    def user_tier(self, guild_id: int, user_id: int) -> str | None:
        return self._cache.user_tiers(guild_id, lambda: self._load_user_tiers(guild_id)).get(user_id)

    def _load_user_tiers(self, guild_id: int) -> dict[int, str]:
        rows = self._all("SELECT user_id, tier_name FROM user_tiers WHERE guild_id = ?", (guild_id,))
        return {row[0]: row[1] for row in rows}

    def set_user_tier(self, guild_id: int, user_id: int, tier_name: str | None) -> None:
        self._cache.forget(guild_id)
        if tier_name is None:
            self._run("DELETE FROM user_tiers WHERE guild_id = ? AND user_id = ?", (guild_id, user_id))
        else:
            self._run(
                "INSERT OR REPLACE INTO user_tiers (guild_id, user_id, tier_name) VALUES (?, ?, ?)",
                (guild_id, user_id, tier_name),
            )

    # Guild configuration

    def guild_config(self, guild_id: int) -> GuildConfig:
        return self._cache.config(guild_id, lambda: self._load_guild_config(guild_id))

    def _load_guild_config(self, guild_id: int) -> GuildConfig:
        row = self._one(
            "SELECT paused, daily_budget_seconds, timezone, admins_exempt, enabled_models, allowed_channels "
            "FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        )
        rules = self._all("SELECT pattern, is_regex FROM blocklist WHERE guild_id = ? ORDER BY pattern", (guild_id,))
        blocklist = [BlockRule(rule[0], bool(rule[1])) for rule in rules]
        if row is None:
            return GuildConfig(guild_id, blocklist=blocklist)
        return GuildConfig(
            guild_id=guild_id,
            paused=bool(row[0]),
            daily_budget_seconds=row[1],
            timezone=row[2],
            admins_exempt=bool(row[3]),
            enabled_models=json.loads(row[4]) if row[4] is not None else None,
            allowed_channels=json.loads(row[5]) if row[5] is not None else None,
            blocklist=blocklist,
        )

    def update_guild_config(self, guild_id: int, **changes: Any) -> None:
        allowed = {
            "paused",
            "daily_budget_seconds",
            "timezone",
            "admins_exempt",
            "enabled_models",
            "allowed_channels",
        }
        if set(changes) - allowed:
            raise ValueError(f"unknown guild settings {sorted(set(changes) - allowed)}")
        self._cache.forget(guild_id)
        self._run("INSERT OR IGNORE INTO guild_settings (guild_id) VALUES (?)", (guild_id,))
        for name, value in changes.items():
            stored = (
                json.dumps(value) if name in ("enabled_models", "allowed_channels") and value is not None else value
            )
            self._run(f"UPDATE guild_settings SET {name} = ? WHERE guild_id = ?", (stored, guild_id))

    def paused_guilds(self) -> set[int]:
        rows = self._all("SELECT guild_id FROM guild_settings WHERE paused = 1")
        return {row[0] for row in rows}

    def add_block(self, guild_id: int, rule: BlockRule) -> None:
        self._cache.forget(guild_id)
        self._run(
            "INSERT OR IGNORE INTO blocklist (guild_id, pattern, is_regex) VALUES (?, ?, ?)",
            (guild_id, rule.pattern, int(rule.is_regex)),
        )

    def remove_block(self, guild_id: int, pattern: str) -> int:
        self._cache.forget(guild_id)
        return self._run("DELETE FROM blocklist WHERE guild_id = ? AND pattern = ?", (guild_id, pattern))

    # Meta and statistics

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def model_run_times(self) -> dict[str, float]:
        rows = self._all("SELECT model, avg_run_seconds FROM model_stats")
        return {row[0]: float(row[1]) for row in rows}

    def save_model_run_time(self, model: str, average: float, samples: int) -> None:
        self._run(
            "INSERT OR REPLACE INTO model_stats (model, avg_run_seconds, samples) VALUES (?, ?, ?)",
            (model, average, samples),
        )
