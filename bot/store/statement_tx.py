"""`Tx` over named statements: what every SQL store shares, the dialect left to its package.

Each method runs one or a few named statements from the dialect's `queries.sql`
(`Statements`) on a DB-API connection and turns rows into domain records. The
dialects write the same statement names with the same columns in the same
order, so this one body serves them all; a package overrides a method only where
its database needs something the others do not (locks, cache versions).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from bot.clock import to_epoch
from bot.domain.jobs import Job, JobState, WaitingJob
from bot.domain.records import BlockRule, GuildConfig, JobLedger, LedgerEntry, QueueShare, Usage, UsageRow
from bot.domain.tiers import Tier
from bot.store.guild_cache import GuildCache
from bot.store.queries import Statements
from bot.store.rows import job_from_row, job_values, stored_value
from bot.store.transaction import Tx

_JSON_SETTINGS = ("enabled_models", "allowed_channels")
_LEDGER_WIDTH = 10  # columns of a ledger row as add_ledger writes it
_IDS_PER_STATEMENT = 100  # so that a list of ids comes in at most this many statement shapes


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What a DB-API connection offers that the statements need (sqlite3 and psycopg alike)."""

    def execute(self, sql: str, params: Sequence[Any], /) -> Cursor: ...


def move_assignments(target: JobState, now: float, changes: dict[str, Any]) -> tuple[tuple[str, ...], list[Any]]:
    """The columns a move sets (state, updated_at, the changes, finished_at into a finished state), and their values."""
    columns = ("state", "updated_at", *changes)
    values = [target.value, now, *(stored_value(name, value) for name, value in changes.items())]
    if target.finished:
        columns += ("finished_at",)
        values.append(now)
    return columns, values


class StatementTx(Tx):
    statements: ClassVar[Statements]

    def __init__(self, connection: Connection, cache: GuildCache) -> None:
        super().__init__(cache)
        self._db = connection

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._db.execute(sql, params).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        """A write whose result nothing reads: a dialect may send it later in the unit of work,
        together with others, as long as it lands before any statement that could see it."""
        self._run(sql, params)

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        row = self._one(sql, params)
        return int(row[0]) if row else 0

    # Jobs

    def insert_job(self, job: Job) -> None:
        self._write(self.statements["insert_job"], job_values(job))

    def get_job(self, job_id: str) -> Job | None:
        row = self._one(self.statements["get_job"], (job_id,))
        return job_from_row(row) if row else None

    def _move_job(self, job: Job, target: JobState, now: float, changes: dict[str, Any]) -> Sequence[Any] | None:
        columns, values = move_assignments(target, now, changes)
        statement = self.statements.with_assignments("move_job", columns)
        row: Sequence[Any] | None = self._one(statement, (*values, job.id, job.state.value))
        return row

    def _update_job(self, job_id: str, now: float, changes: dict[str, Any]) -> None:
        values = [stored_value(name, value) for name, value in changes.items()]
        statement = self.statements.with_assignments("update_job", ("updated_at", *changes))
        self._run(statement, (now, *values, job_id))

    def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        names = [state.value for state in states]
        rows = self._all(self.statements.with_marks("jobs_in_states", len(names)), names)
        return [job_from_row(row) for row in rows]

    def waiting_after(self, seq: int, limit: int) -> list[WaitingJob]:
        return [WaitingJob(*row) for row in self._all(self.statements["waiting_after"], (seq, limit))]

    def start_job(self, job_id: str, now: float) -> Job | None:
        row = self._one(self.statements["start_job"], (now, job_id))
        return job_from_row(row) if row else None

    def waiting_job_ids(self) -> set[str]:
        return {row[0] for row in self._all(self.statements["waiting_job_ids"])}

    def waiting_by_ids(self, job_ids: Iterable[str]) -> list[WaitingJob]:
        wanted = list(job_ids)
        found: list[WaitingJob] = []
        for start in range(0, len(wanted), _IDS_PER_STATEMENT):
            chunk = wanted[start : start + _IDS_PER_STATEMENT]
            found += (
                WaitingJob(*row) for row in self._all(self.statements.with_marks("waiting_by_ids", len(chunk)), chunk)
            )
        return sorted(found, key=lambda job: job.seq)  # in insertion order across the chunks

    def highest_started_tag(self) -> float | None:
        row = self._one(self.statements["highest_started_tag"])
        return None if row is None or row[0] is None else float(row[0])

    def latest_share(self, guild_id: int, user_id: int) -> QueueShare | None:
        row = self._one(self.statements["latest_share"], (guild_id, user_id))
        return None if row is None else QueueShare(row[0], row[1], row[2])

    def count_user_jobs(self, guild_id: int, user_id: int, states: Iterable[JobState]) -> int:
        names = [state.value for state in states]
        statement = self.statements.with_marks("count_user_jobs", len(names))
        return self._count(statement, (guild_id, user_id, *names))

    def count_queued_jobs(self, guild_id: int, user_id: int) -> int:
        return self._count(self.statements["count_queued_jobs"], (guild_id, user_id))

    def open_retry(self, parent_id: str) -> Job | None:
        row = self._one(self.statements["open_retry"], (parent_id,))
        return job_from_row(row) if row else None

    def user_jobs(self, guild_id: int, user_id: int, *, unfinished: bool, limit: int) -> list[Job]:
        statement = self.statements["user_open_jobs" if unfinished else "user_jobs"]
        return [job_from_row(row) for row in self._all(statement, (guild_id, user_id, limit))]

    def guild_open_jobs(self, guild_id: int, limit: int) -> list[Job]:
        return [job_from_row(row) for row in self._all(self.statements["guild_open_jobs"], (guild_id, limit))]

    # Ledger

    def add_ledger(self, job: Job, entries: Sequence[LedgerEntry], now: float) -> None:
        params: list[Any] = []
        window_at = to_epoch(job.created_at)
        for entry in entries:
            params += (job.id, job.guild_id, job.user_id, job.request.model, entry.kind, entry.seconds,
                       entry.jobs, entry.cost_micros, window_at, now)  # fmt: skip
        self._write(self.statements.with_rows("add_ledger", len(entries), _LEDGER_WIDTH), params)

    def user_usage(
        self, guild_id: int, user_id: int, day: tuple[float, float], month: tuple[float, float]
    ) -> tuple[Usage, Usage]:
        row = self._one(self.statements["user_usage"], (*day, *day, guild_id, user_id, *month))
        if row is None:
            return Usage(0, 0), Usage(0, 0)
        return Usage(int(row[0]), int(row[1])), Usage(int(row[2]), int(row[3]))

    def guild_usage(self, guild_id: int, start: float, end: float) -> Usage:
        row = self._one(self.statements["guild_usage"], (guild_id, start, end))
        return Usage(int(row[0]), int(row[1]), int(row[2])) if row else Usage(0, 0)

    def job_ledgers(self) -> list[JobLedger]:
        rows = self._all(self.statements["job_ledgers"])
        return [JobLedger(row[0], row[1], *(int(value) for value in row[2:])) for row in rows]

    def usage_rows(self, guild_id: int, since: float) -> list[UsageRow]:
        rows = self._all(self.statements["usage_rows"], (guild_id, since))
        return [UsageRow(row[0], row[1], int(row[2]), int(row[3]), int(row[4])) for row in rows]

    # Tiers

    def _load_tiers(self, guild_id: int) -> dict[str, Tier]:
        rows = self._all(self.statements["tiers"], (guild_id,))
        return {row[0]: Tier(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7])) for row in rows}

    def _upsert_tier(self, guild_id: int, tier: Tier) -> None:
        self._run(
            self.statements["upsert_tier"],
            (guild_id, tier.name, tier.daily_seconds, tier.monthly_seconds, tier.max_running, tier.max_queued,
             tier.max_clip_seconds, tier.weight, tier.relax_allowed),
        )  # fmt: skip

    def _delete_tier(self, guild_id: int, name: str) -> int:
        self._run(self.statements["unmap_tier_roles"], (guild_id, name))
        self._run(self.statements["unmap_tier_users"], (guild_id, name))
        return self._run(self.statements["delete_tier"], (guild_id, name))

    def _load_role_tiers(self, guild_id: int) -> dict[int, str]:
        return {row[0]: row[1] for row in self._all(self.statements["role_tiers"], (guild_id,))}

    def _set_role_tier(self, guild_id: int, role_id: int, tier_name: str | None) -> None:
        if tier_name is None:
            self._run(self.statements["clear_role_tier"], (guild_id, role_id))
        else:
            self._run(self.statements["set_role_tier"], (guild_id, role_id, tier_name))

    def _load_user_tiers(self, guild_id: int) -> dict[int, str]:
        return {row[0]: row[1] for row in self._all(self.statements["user_tiers"], (guild_id,))}

    def _set_user_tier(self, guild_id: int, user_id: int, tier_name: str | None) -> None:
        if tier_name is None:
            self._run(self.statements["clear_user_tier"], (guild_id, user_id))
        else:
            self._run(self.statements["set_user_tier"], (guild_id, user_id, tier_name))

    # Guild configuration

    def _load_guild_config(self, guild_id: int) -> GuildConfig:
        row = self._one(self.statements["guild_settings"], (guild_id,))
        rules = self._all(self.statements["blocklist"], (guild_id,))
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
            daily_budget_micros=row[6],
            monthly_budget_micros=row[7],
            blocklist=blocklist,
        )

    def _update_guild_config(self, guild_id: int, changes: dict[str, Any]) -> None:
        self._run(self.statements["ensure_guild_settings"], (guild_id,))
        if not changes:
            return
        values = [
            json.dumps(value) if name in _JSON_SETTINGS and value is not None else value
            for name, value in changes.items()
        ]
        self._run(self.statements.with_assignments("update_guild_settings", tuple(changes)), (*values, guild_id))

    def paused_guilds(self) -> set[int]:
        return {row[0] for row in self._all(self.statements["paused_guilds"])}

    def _add_block(self, guild_id: int, rule: BlockRule) -> None:
        self._run(self.statements["add_block"], (guild_id, rule.pattern, rule.is_regex))

    def _remove_block(self, guild_id: int, pattern: str) -> int:
        return self._run(self.statements["remove_block"], (guild_id, pattern))

    # Meta and run-time statistics

    def get_meta(self, key: str) -> str | None:
        row = self._one(self.statements["get_meta"], (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._run(self.statements["set_meta"], (key, value))

    def model_run_times(self) -> dict[str, float]:
        return {row[0]: float(row[1]) for row in self._all(self.statements["model_run_times"])}

    def save_model_run_time(self, model: str, average: float, samples: int) -> None:
        self._write(self.statements["save_model_run_time"], (model, average, samples))

    # Workers and leases

    def waiting_jobs(self, limit: int, offset: int) -> list[Job]:
        return [job_from_row(row) for row in self._all(self.statements["waiting_jobs"], (limit, offset))]

    def grant_lease(self, job_id: str, owner: str, until: float) -> None:
        self._write(self.statements["grant_lease"], (job_id, owner, until))

    def hold_lease(self, job_id: str, owner: str, until: float) -> bool:
        return self._run(self.statements["hold_lease"], (until, job_id, owner)) == 1

    def drop_lease(self, job_id: str) -> None:
        self._run(self.statements["drop_lease"], (job_id,))

    def renew_leases(self, owner: str, until: float) -> dict[str, JobState]:
        return {row[0]: JobState(row[1]) for row in self._all(self.statements["renew_leases"], (until, owner))}

    def expired_leases(self, now: float, limit: int) -> list[tuple[Job, str | None]]:
        rows = [tuple(row) for row in self._all(self.statements["expired_leases"], (now, limit))]
        return [(job_from_row(row[:-1]), row[-1]) for row in rows]

    def worker_seen(self, worker: str, now: float) -> None:
        self._run(self.statements["worker_seen"], (worker, now))

    def live_workers(self, since: float) -> int:
        return self._count(self.statements["live_workers"], (since,))

    def forget_worker(self, worker: str) -> None:
        self._run(self.statements["forget_worker"], (worker,))
