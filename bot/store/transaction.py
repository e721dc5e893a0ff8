"""What the core may ask of the database inside one transaction, in domain terms.

Callers hand `Store.write()` or `Store.read()` a function of a `Tx`; it runs on the
database's own thread, possibly twice (see the implementation's batching), so it
must only compute and query, never await, touch the event loop or act outside the
database. Each database implements the abstract statements in its own package
(`bot/store/sqlite/`, ...); the rules every implementation keeps (which moves are
allowed, which columns a caller may change, the per-guild cache) are here, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.clock import from_epoch
from bot.domain.jobs import Job, JobState, WaitingJob, can_move
from bot.domain.records import BlockRule, GuildConfig, JobLedger, LedgerEntry, QueueShare, Usage, UsageRow
from bot.domain.tiers import Tier
from bot.store.guild_cache import GuildCache
from bot.store.rows import CHANGED_ELSEWHERE, check_mutable, field_value


class StaleState(Exception):
    """The job was not in the state the caller expected (another task moved it)."""


class LeaseLost(StaleState):
    """The job's lease went to another worker: this one must not touch the job again."""


class InvalidTransition(Exception):
    pass


GUILD_SETTINGS = frozenset(
    {
        "paused",
        "daily_budget_seconds",
        "daily_budget_micros",
        "monthly_budget_micros",
        "timezone",
        "admins_exempt",
        "enabled_models",
        "allowed_channels",
    }
)


class Tx(ABC):
    def __init__(self, cache: GuildCache) -> None:
        self._cache = cache
        self._released: list[str] = []  # leases given up when the unit of work ends

    def finish(self) -> None:
        """The unit of work returned: send what it left for its end (see `fence`)."""
        for job_id in self._released:
            self.drop_lease(job_id)

    # Jobs

    @abstractmethod
    def insert_job(self, job: Job) -> None: ...

    @abstractmethod
    def get_job(self, job_id: str) -> Job | None: ...

    def move_job(self, job: Job, target: JobState, now: float, **changes: Any) -> Job:
        """Move `job` from the state it holds to `target`, refusing any move TRANSITIONS forbids."""
        if not can_move(job.state, target):
            raise InvalidTransition(f"job {job.id}: {job.state.value} -> {target.value} is not allowed")
        check_mutable(changes)
        changed_elsewhere = self._move_job(job, target, now, changes)
        if changed_elsewhere is None:
            raise StaleState(f"job {job.id} is no longer {job.state.value}")
        return _moved(job, target, now, changes, changed_elsewhere)

    def move_jobs(self, jobs: Sequence[Job], target: JobState, now: float) -> list[Job]:
        """Move every job still in the state it holds to `target` (a claim); the moved ones, in order.

        One moved meanwhile (a cancel) is left out, not refused."""
        for job in jobs:
            if not can_move(job.state, target):
                raise InvalidTransition(f"job {job.id}: {job.state.value} -> {target.value} is not allowed")
        found = self._move_jobs(jobs, target, now)
        return [_moved(job, target, now, {}, found[job.id]) for job in jobs if job.id in found]

    def _move_jobs(self, jobs: Sequence[Job], target: JobState, now: float) -> dict[str, Sequence[Any]]:
        """As `_move_job` for each job: the `CHANGED_ELSEWHERE` columns of the moved ones, by id."""
        found: dict[str, Sequence[Any]] = {}
        for job in jobs:
            changed_elsewhere = self._move_job(job, target, now, {})
            if changed_elsewhere is not None:
                found[job.id] = changed_elsewhere
        return found

    @abstractmethod
    def _move_job(self, job: Job, target: JobState, now: float, changes: dict[str, Any]) -> Sequence[Any] | None:
        """Write the move (and `finished_at = now` into a finished state) if the job still holds
        `job.state`; the `CHANGED_ELSEWHERE` columns as they stand, or None if it moved meanwhile."""

    def update_job(self, job_id: str, now: float, **changes: Any) -> None:
        check_mutable(changes)
        self._update_job(job_id, now, changes)

    @abstractmethod
    def _update_job(self, job_id: str, now: float, changes: dict[str, Any]) -> None: ...

    @abstractmethod
    def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        """Jobs in `states`, in the order they were inserted."""

    @abstractmethod
    def waiting_after(self, seq: int, limit: int) -> list[WaitingJob]:
        """Up to `limit` waiting jobs inserted after `seq` (0: from the first), in insertion order."""

    @abstractmethod
    def start_job(self, job_id: str, now: float) -> Job | None:
        """Move a waiting job to submitting and read it back whole; None when it no longer waits."""

    @abstractmethod
    def waiting_job_ids(self) -> set[str]:
        """The ids of the waiting jobs."""

    @abstractmethod
    def waiting_by_ids(self, job_ids: Iterable[str]) -> list[WaitingJob]:
        """The waiting jobs among these ids, in insertion order."""

    @abstractmethod
    def highest_started_tag(self) -> float | None:
        """The largest fair-queue tag among normal-lane jobs that left the queue."""

    @abstractmethod
    def latest_share(self, guild_id: int, user_id: int) -> QueueShare | None:
        """The member's latest job that counts in the fair queue (one canceled before it ran does not)."""

    @abstractmethod
    def count_user_jobs(self, guild_id: int, user_id: int, states: Iterable[JobState]) -> int: ...

    @abstractmethod
    def count_queued_jobs(self, guild_id: int, user_id: int) -> int: ...

    @abstractmethod
    def open_retry(self, parent_id: str) -> Job | None:
        """The unfinished retry of `parent_id`, if there is one."""

    @abstractmethod
    def user_jobs(self, guild_id: int, user_id: int, *, unfinished: bool, limit: int) -> list[Job]:
        """A member's latest jobs, newest first."""

    @abstractmethod
    def guild_open_jobs(self, guild_id: int, limit: int) -> list[Job]:
        """A guild's unfinished jobs, oldest first."""

    # Admission

    @abstractmethod
    def lock_admission(self, guild_id: int, user_id: int, *, whole_guild: bool) -> None:
        """Until this transaction ends, no other process admits a job for this member (for the
        whole guild when `whole_guild`, which a guild-wide budget needs): what an enqueue reads
        of their usage and waiting jobs then stays true until its own job is written."""

    # Ledger

    @abstractmethod
    def add_ledger(self, job: Job, entries: Sequence[LedgerEntry], now: float) -> None: ...

    @abstractmethod
    def user_usage(
        self, guild_id: int, user_id: int, day: tuple[float, float], month: tuple[float, float]
    ) -> tuple[Usage, Usage]:
        """A member's usage in the day and month windows."""

    @abstractmethod
    def guild_usage(self, guild_id: int, start: float, end: float) -> Usage:
        """A guild's usage in one window, money included."""

    @abstractmethod
    def job_ledgers(self) -> list[JobLedger]:
        """Every job beside the sum of its ledger rows (the ledger check, `bot.quotas.ledger`)."""

    @abstractmethod
    def usage_rows(self, guild_id: int, since: float) -> list[UsageRow]:
        """Charged usage per member and model since `since`, the most seconds first."""

    # Per-guild settings, read through the cache

    def _guild_cache(self, guild_id: int) -> GuildCache:
        """The cache, once sure its entries for `guild_id` are current (a store shared by several
        processes checks what another may have changed)."""
        return self._cache

    def _forget_guild(self, guild_id: int) -> None:
        """This transaction changes the guild's settings."""
        self._cache.forget(guild_id)

    # Tiers

    def tiers(self, guild_id: int) -> dict[str, Tier]:
        return self._guild_cache(guild_id).tiers(guild_id, lambda: self._load_tiers(guild_id))

    @abstractmethod
    def _load_tiers(self, guild_id: int) -> dict[str, Tier]: ...

    def upsert_tier(self, guild_id: int, tier: Tier) -> None:
        self._forget_guild(guild_id)
        self._upsert_tier(guild_id, tier)

    @abstractmethod
    def _upsert_tier(self, guild_id: int, tier: Tier) -> None: ...

    def delete_tier(self, guild_id: int, name: str) -> int:
        """Delete the tier and every role or member mapped to it; how many tiers went (0 or 1)."""
        self._forget_guild(guild_id)
        return self._delete_tier(guild_id, name)

    @abstractmethod
    def _delete_tier(self, guild_id: int, name: str) -> int: ...

    def role_tiers(self, guild_id: int) -> dict[int, str]:
        return self._guild_cache(guild_id).role_tiers(guild_id, lambda: self._load_role_tiers(guild_id))

    @abstractmethod
    def _load_role_tiers(self, guild_id: int) -> dict[int, str]: ...

    def set_role_tier(self, guild_id: int, role_id: int, tier_name: str | None) -> None:
        self._forget_guild(guild_id)
        self._set_role_tier(guild_id, role_id, tier_name)

    @abstractmethod
    def _set_role_tier(self, guild_id: int, role_id: int, tier_name: str | None) -> None: ...

    def user_tier(self, guild_id: int, user_id: int) -> str | None:
        return self._user_tiers(guild_id).get(user_id)

    def _user_tiers(self, guild_id: int) -> Mapping[int, str]:
        return self._guild_cache(guild_id).user_tiers(guild_id, lambda: self._load_user_tiers(guild_id))

    @abstractmethod
    def _load_user_tiers(self, guild_id: int) -> dict[int, str]: ...

    def set_user_tier(self, guild_id: int, user_id: int, tier_name: str | None) -> None:
        self._forget_guild(guild_id)
        self._set_user_tier(guild_id, user_id, tier_name)

    @abstractmethod
    def _set_user_tier(self, guild_id: int, user_id: int, tier_name: str | None) -> None: ...

    # Guild configuration

    def guild_config(self, guild_id: int) -> GuildConfig:
        return self._guild_cache(guild_id).config(guild_id, lambda: self._load_guild_config(guild_id))

    @abstractmethod
    def _load_guild_config(self, guild_id: int) -> GuildConfig: ...

    def update_guild_config(self, guild_id: int, **changes: Any) -> None:
        unknown = set(changes) - GUILD_SETTINGS
        if unknown:
            raise ValueError(f"unknown guild settings {sorted(unknown)}")
        self._forget_guild(guild_id)
        self._update_guild_config(guild_id, changes)

    @abstractmethod
    def _update_guild_config(self, guild_id: int, changes: dict[str, Any]) -> None: ...

    @abstractmethod
    def paused_guilds(self) -> set[int]: ...

    def add_block(self, guild_id: int, rule: BlockRule) -> None:
        self._forget_guild(guild_id)
        self._add_block(guild_id, rule)

    @abstractmethod
    def _add_block(self, guild_id: int, rule: BlockRule) -> None: ...

    def remove_block(self, guild_id: int, pattern: str) -> int:
        self._forget_guild(guild_id)
        return self._remove_block(guild_id, pattern)

    @abstractmethod
    def _remove_block(self, guild_id: int, pattern: str) -> int: ...

    # Meta and run-time statistics

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def model_run_times(self) -> dict[str, float]: ...

    @abstractmethod
    def save_model_run_time(self, model: str, average: float, samples: int) -> None: ...

    # Workers and leases: several processes driving jobs from one database

    @abstractmethod
    def lock_claims(self) -> bool:
        """Hold off every other process's claims until this transaction ends; False, at once, when
        another process's claim holds them off now (each claim counts the others' running jobs)."""

    @abstractmethod
    def waiting_jobs(self, limit: int, offset: int) -> list[Job]:
        """A page of the waiting jobs in fair order (lane, tag, arrival)."""

    @abstractmethod
    def grant_lease(self, job_id: str, owner: str, until: float) -> None:
        """Lease the job to `owner` until `until`, whoever held it before."""

    def grant_leases(self, job_ids: Sequence[str], owner: str, until: float) -> None:
        """`grant_lease` for each job (a claim)."""
        for job_id in job_ids:
            self.grant_lease(job_id, owner, until)

    @abstractmethod
    def hold_lease(self, job_id: str, owner: str, until: float) -> bool:
        """Extend `owner`'s lease on the job; False when `owner` holds it no longer."""

    def fence(self, job_id: str, owner: str, until: float, *, release: bool) -> None:
        """Nothing this unit of work writes lands unless `owner` still holds the job's lease,
        extended to `until` (given up at the end when `release`): `LeaseLost` otherwise.

        A store may check at the job's next move, in the move's own statement; the check is
        made in the same transaction in any case, so a refused fence undoes the work's writes."""
        if not self.hold_lease(job_id, owner, until):
            raise LeaseLost(f"job {job_id} is no longer leased to {owner}")
        if release:
            self._released.append(job_id)

    @abstractmethod
    def drop_lease(self, job_id: str) -> None: ...

    @abstractmethod
    def renew_leases(self, owner: str, until: float) -> dict[str, JobState]:
        """Extend every lease `owner` holds; each job still held, with its state."""

    @abstractmethod
    def expired_leases(self, now: float, limit: int) -> list[tuple[Job, str | None]]:
        """Active jobs whose lease ran out by `now` (with the worker it was leased to), or that have
        none (None), oldest first.

        Rows another transaction holds are passed over, not waited for."""

    @abstractmethod
    def worker_seen(self, worker: str, now: float) -> None: ...

    @abstractmethod
    def live_workers(self, since: float) -> int:
        """Workers seen alive since `since`."""

    @abstractmethod
    def forget_worker(self, worker: str) -> None: ...

    @abstractmethod
    def notify(self, channel: str, payload: str) -> None:
        """Tell the processes listening on `channel`, once this transaction commits."""


def _moved(job: Job, target: JobState, now: float, changes: dict[str, Any], changed_elsewhere: Sequence[Any]) -> Job:
    """The caller's copy with the move applied, plus what others may have written meanwhile
    (cheaper than decoding the whole row, which was most of a checkpoint's cost)."""
    fields: dict[str, Any] = dict(zip(CHANGED_ELSEWHERE, changed_elsewhere, strict=True))
    fields.update((name, field_value(name, value)) for name, value in changes.items())
    if target.finished:
        fields["finished_at"] = from_epoch(now)
    return job.evolve(state=target, updated_at=from_epoch(now), **fields)
