"""`Tx` on PostgreSQL: the shared statement body, plus what several processes on one database need.

Each statement is a round trip to the server, which costs both processes CPU whatever the
statement does, so a unit of work sends as few as it can: writes whose result nothing reads
wait and go together with the next ones, in one statement (`_write`), and a fenced job's
lease check and extension travel inside its next move (`fence`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from bot.domain.jobs import Job, JobState
from bot.store.guild_cache import GuildCache
from bot.store.postgres.queries import STATEMENTS
from bot.store.statement_tx import StatementTx, move_assignments
from bot.store.transaction import LeaseLost


@dataclass(frozen=True, slots=True)
class _Fence:
    job_id: str
    owner: str
    until: float
    release: bool


class PostgresTx(StatementTx):
    statements = STATEMENTS

    def __init__(self, connection: psycopg.Connection[Any], cache: GuildCache) -> None:
        super().__init__(connection, cache)
        self._current_guild: int | None = None  # the guild whose cached settings this Tx checked
        self._fenced: _Fence | None = None  # a fence the job's next move checks
        self._waiting: list[tuple[str, Sequence[Any]]] = []  # writes not sent yet

    # Fewer round trips

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        if any(waiting == sql for waiting, _ in self._waiting):
            self._send_waiting()  # one upsert must not meet the same row twice in one statement
        self._waiting.append((sql, params))

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._waiting:  # every statement sees the writes before it
            self._send_waiting()
        return super()._all(sql, params)

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self._waiting:
            self._send_waiting()
        return super()._run(sql, params)

    def _send_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._db.execute(
            _together(tuple(sql for sql, _ in waiting)), [value for _, values in waiting for value in values]
        )

    def fence(self, job_id: str, owner: str, until: float, *, release: bool) -> None:
        if self._fenced is not None:
            self._check_fence()
        self._fenced = _Fence(job_id, owner, until, release)

    def _move_job(self, job: Job, target: JobState, now: float, changes: dict[str, Any]) -> Sequence[Any] | None:
        fence = self._fenced
        if fence is None or fence.job_id != job.id:
            return super()._move_job(job, target, now, changes)
        self._fenced = None
        columns, values = move_assignments(target, now, changes)
        lease: tuple[Any, ...]
        if fence.release:
            name, lease = "move_released_job", (fence.job_id, fence.owner)
        else:
            name, lease = "move_leased_job", (fence.until, fence.job_id, fence.owner)
        row: Any = self._one(
            self.statements.with_assignments(name, columns), (*lease, *values, job.id, job.state.value)
        )
        if not row[0]:
            raise LeaseLost(f"job {job.id} is no longer leased to {fence.owner}")
        return None if row[1] is None else row[2:]

    def _move_jobs(self, jobs: Sequence[Job], target: JobState, now: float) -> dict[str, Sequence[Any]]:
        states = {job.state for job in jobs}
        if len(states) != 1 or self._fenced is not None:
            return super()._move_jobs(jobs, target, now)
        rows = self._all(STATEMENTS["move_jobs"], (target.value, now, [job.id for job in jobs], states.pop().value))
        return {row[0]: row[1:] for row in rows}

    def grant_leases(self, job_ids: Sequence[str], owner: str, until: float) -> None:
        if job_ids:
            self._write(STATEMENTS["grant_leases"], (owner, until, list(job_ids)))

    def finish(self) -> None:
        if self._fenced is not None:  # no move carried it
            self._check_fence()
        if self._waiting:
            self._send_waiting()
        super().finish()

    def _check_fence(self) -> None:
        fence, self._fenced = self._fenced, None
        assert fence is not None
        if fence.release:
            held = self._run(STATEMENTS["release_lease"], (fence.job_id, fence.owner)) == 1
        else:
            held = self.hold_lease(fence.job_id, fence.owner, fence.until)
        if not held:
            raise LeaseLost(f"job {fence.job_id} is no longer leased to {fence.owner}")

    # Several processes on one database

    def lock_admission(self, guild_id: int, user_id: int, *, whole_guild: bool) -> None:
        # Always in this order (guild, then member), so two admissions never wait on each other in a circle.
        if whole_guild:
            self._run(STATEMENTS["lock_guild_admission"], (guild_id,))
        self._run(STATEMENTS["lock_member_admission"], (guild_id, user_id))

    def lock_claims(self) -> bool:
        row = self._one(STATEMENTS["lock_claims"])
        return bool(row[0]) if row else False

    def notify(self, channel: str, payload: str) -> None:
        self._all(STATEMENTS["notify"], (channel, payload))

    def _guild_cache(self, guild_id: int) -> GuildCache:
        # Another process may have changed the guild's settings: compare versions once per unit of work.
        if guild_id != self._current_guild:
            row: Any = self._one(STATEMENTS["guild_version"], (guild_id,))
            self._cache.match_version(guild_id, row[0] if row else None)
            self._current_guild = guild_id
        return self._cache

    def _forget_guild(self, guild_id: int) -> None:
        self._run(STATEMENTS["bump_guild_version"], (guild_id,))
        self._cache.forget(guild_id)
        self._current_guild = None


@functools.lru_cache(maxsize=256)
def _together(statements: tuple[str, ...]) -> str:
    """Writes as one statement: PostgreSQL runs every data-modifying WITH query to completion,
    whether or not anything reads it. One write goes as it is (and is prepared like any other)."""
    if len(statements) == 1:
        return statements[0]
    return "WITH " + ", ".join(f"write_{index} AS ({sql})" for index, sql in enumerate(statements)) + " SELECT"
