"""Every running limit at once: member, guild, model and backend concurrency.

Counted from the jobs that run now: the runner's own (one process) or every active
job in the database (a claim by one worker among several). Both choose with this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from bot.models import ModelCatalog


class Counted(Protocol):
    """What the limits read of a job: a whole `Job`, or the fair queue's entry for a waiting one."""

    @property
    def guild_id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def max_running(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def backend(self) -> str: ...


class RunningLimits:
    def __init__(
        self,
        catalog: ModelCatalog,
        guild_max_running: int,
        running: Iterable[Counted],
        paused_guilds: set[int] | frozenset[int] = frozenset(),
    ) -> None:
        self._catalog = catalog
        self._guild_max_running = guild_max_running
        self._paused_guilds = paused_guilds
        self._per_user: Counter[tuple[int, int]] = Counter()
        self._per_guild: Counter[int] = Counter()
        self._per_model: Counter[str] = Counter()
        self._per_backend: Counter[str] = Counter()
        for job in running:
            self.take(job)

    def user_blocked(self, job: Counted) -> bool:
        """The member (or their guild) can start nothing now: paused, or at their running limit."""
        return (
            job.guild_id in self._paused_guilds
            or self._per_user[(job.guild_id, job.user_id)] >= job.max_running
            or self._per_guild[job.guild_id] >= self._guild_max_running
        )

    def model_full(self, job: Counted) -> bool:
        """The job's model (or its backend) runs all it may; an unknown model never starts here."""
        spec = self._catalog.get(job.model)
        return (
            spec is None
            or self._per_model[spec.name] >= spec.max_concurrency
            or self._per_backend[spec.backend] >= self._catalog.backend_limit(spec.backend)
        )

    def admits(self, job: Counted) -> bool:
        return not self.user_blocked(job) and not self.model_full(job)

    def take(self, job: Counted) -> None:
        self._per_user[(job.guild_id, job.user_id)] += 1
        self._per_guild[job.guild_id] += 1
        self._per_model[job.model] += 1
        self._per_backend[job.backend] += 1

    def free_slots(self) -> int:
        """How many more jobs the model and backend limits let start (member and guild limits aside)."""
        free = 0
        for backend in self._catalog.backends():
            models = sum(
                max(model.max_concurrency - self._per_model[model.name], 0)
                for model in self._catalog
                if model.backend == backend
            )
            free += min(max(self._catalog.backend_limit(backend) - self._per_backend[backend], 0), models)
        return free

    def has_free_slot(self) -> bool:
        """Some model is below both its own and its backend's limit (else stop walking the queue)."""
        return any(
            self._per_model[model.name] < model.max_concurrency
            and self._per_backend[model.backend] < self._catalog.backend_limit(model.backend)
            for model in self._catalog
        )
