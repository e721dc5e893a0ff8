"""Which queued job runs next: weighted fair share across users, FIFO within a user.

Start-time fair queueing, the tag-based form of weighted round robin: each user
has a running finish tag; a new job starts at max(virtual time, the user's finish
tag) and advances that tag by cost / weight. Jobs run in order of (lane, tag,
arrival), so a user with weight 2 gets twice the footage-seconds of a user with
weight 1 while both wait, and a newcomer never waits behind someone's backlog.
Tags are stored with the jobs, so the order survives a restart, and a user's
finish tag is read back from their latest job when they queue the next one.

Queue position and ETA come from this same order. Positions past
`EXACT_POSITIONS` are shown only as "far back": their exact number changes with
every start, and telling hundreds of members so would cost hundreds of edits.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bot.domain.jobs import Job
from bot.domain.records import QueueShare

UserKey = tuple[int, int]  # (guild_id, user_id)
MIN_WEIGHT = 0.01
_SortKey = tuple[int, float, int, str]  # (lane, tag, arrival, job id)
# Positions up to this are shown as numbers; behind it a job reads "at least this many ahead".
EXACT_POSITIONS = 20


@dataclass(frozen=True, slots=True)
class QueuePlace:
    position: int  # 1 = next to run
    eta_seconds: float  # until the clip should be ready
    paused: bool = False  # its server (or the whole bot) is paused: no ETA holds

    @property
    def exact(self) -> bool:
        """Whether the position is shown as a number (else only as far back)."""
        return self.position <= EXACT_POSITIONS


def _never(job: Job) -> bool:
    return False


class FairQueue:
    def __init__(self) -> None:
        self._order: list[_SortKey] = []
        # The same keys per user, and each user's first key in order: a dispatch pass
        # merges the users' queues, so a user who can't start anything now is passed
        # over once, not once per waiting job.
        self._by_user: dict[UserKey, list[_SortKey]] = {}
        self._heads: list[tuple[_SortKey, UserKey]] = []
        self._keys: dict[str, _SortKey] = {}
        self._jobs: dict[str, Job] = {}
        self._virtual = 0.0
        self._arrivals = 0
        self._per_model: dict[str, int] = {}
        self._changes = 0

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._keys

    @property
    def changes(self) -> int:
        """Counts additions and removals: when it moved, positions may have too."""
        return self._changes

    @property
    def virtual_time(self) -> float:
        """The tag of the last normal-lane job that started: where a newcomer's tag begins."""
        return self._virtual

    def add(self, job: Job) -> None:
        """Queue a job with its stored tag. Adding twice changes nothing."""
        if job.id in self._keys:
            return
        self._arrivals += 1
        self._changes += 1
        key = (job.lane, job.sched_tag, self._arrivals, job.id)
        bisect.insort(self._order, key)
        user = (job.guild_id, job.user_id)
        waiting = self._by_user.setdefault(user, [])
        head = waiting[0] if waiting else None
        bisect.insort(waiting, key)
        if waiting[0] != head:
            self._move_head(user, head, waiting[0])
        self._keys[job.id] = key
        self._jobs[job.id] = job
        model = job.request.model
        self._per_model[model] = self._per_model.get(model, 0) + 1

    def remove(self, job_id: str) -> Job | None:
        key = self._keys.pop(job_id, None)
        if key is None:
            return None
        self._changes += 1
        del self._order[bisect.bisect_left(self._order, key)]
        job = self._jobs.pop(job_id)
        user = (job.guild_id, job.user_id)
        waiting = self._by_user[user]
        index = bisect.bisect_left(waiting, key)
        del waiting[index]
        if index == 0:
            self._move_head(user, key, waiting[0] if waiting else None)
        if not waiting:
            del self._by_user[user]
        self._per_model[job.request.model] -= 1
        return job

    def reset(self, jobs: Iterable[Job], highest_started_tag: float | None) -> None:
        """Hold exactly `jobs` (read back from the database), the virtual time restored with them."""
        self._order.clear()
        self._by_user.clear()
        self._heads.clear()
        self._keys.clear()
        self._jobs.clear()
        self._per_model.clear()
        for job in jobs:
            self.add(job)
        self.restore_virtual_time(highest_started_tag)

    def restore_virtual_time(self, highest_started_tag: float | None) -> None:
        """After a restart: virtual time as it stood, so newcomers don't jump the queue.

        It was the tag of the last normal-lane job started, and never past the
        earliest waiting one; `highest_started_tag` comes from the stored jobs (a job
        canceled while waiting counts too, hence the clamp to the waiting head).
        """
        if highest_started_tag is None:
            return
        head = self._order[0][1] if self._order and self._order[0][0] == 0 else None
        restored = highest_started_tag if head is None else min(highest_started_tag, head)
        self._virtual = max(self._virtual, restored)

    def dispatched(self, job: Job) -> None:
        """Remove a job that starts running and move virtual time up to its tag."""
        if self.remove(job.id) is not None and job.lane == 0:
            self._virtual = max(self._virtual, job.sched_tag)

    def in_order(self, user_blocked: Callable[[Job], bool] = _never) -> Iterator[Job]:
        """Waiting jobs, next first: the users' own queues merged by key.

        When a user's next job surfaces and `user_blocked(job)` says the user can't
        start anything now, the rest of that user's jobs are passed over in one step,
        so a walk costs O(log users) per job it yields or user it passes over, however
        many jobs wait behind them. The predicate is asked afresh each time, after the
        caller has acted on the jobs before. Start (remove) jobs after the walk, not
        during it.
        """
        untouched = 0  # users whose head this walk has not reached yet: self._heads[untouched:]
        touched: list[tuple[_SortKey, UserKey]] = []  # the next job of each user already yielded
        while True:
            fresh = self._heads[untouched] if untouched < len(self._heads) else None
            if touched and (fresh is None or touched[0] < fresh):
                key, user = heapq.heappop(touched)
            elif fresh is not None:
                key, user = fresh
                untouched += 1
            else:
                return
            job = self._jobs[key[3]]
            if user_blocked(job):
                continue  # none of the user's later jobs is pushed: all are passed over
            yield job
            waiting = self._by_user[user]
            after = bisect.bisect_right(waiting, key)
            if after < len(waiting):
                heapq.heappush(touched, (waiting[after], user))

    def _move_head(self, user: UserKey, old: _SortKey | None, new: _SortKey | None) -> None:
        if old is not None:
            del self._heads[bisect.bisect_left(self._heads, (old, user))]
        if new is not None:
            bisect.insort(self._heads, (new, user))

    def first(self, count: int) -> list[Job]:
        return [self._jobs[key[3]] for key in self._order[:count]]

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def waiting(self) -> list[Job]:
        """Every waiting job, in no particular order."""
        return list(self._jobs.values())

    def position(self, job_id: str) -> int | None:
        key = self._keys.get(job_id)
        if key is None:
            return None
        return bisect.bisect_left(self._order, key) + 1

    def model_counts(self) -> dict[str, int]:
        return {model: count for model, count in self._per_model.items() if count}


def start_tag(virtual_time: float, previous_finish: float | None) -> float:
    """A new job's tag: now in virtual time, or later if the user's previous job ends later."""
    return max(virtual_time, previous_finish or 0.0)


def finish_tag(tag: float, cost: float, weight: float) -> float:
    """Where a job's share ends: its cost stretched by the inverse of its owner's weight."""
    return tag + cost / max(weight, MIN_WEIGHT)


def share_finish(share: QueueShare | None) -> float | None:
    """Where the share of a member's latest counted job ends (tags grow job by job)."""
    return None if share is None else finish_tag(share.tag, share.cost_seconds, share.weight)


class RunTimes:
    """Moving average of how long each model takes, from queue exit to delivery."""

    SMOOTHING = 0.3

    def __init__(self, initial: dict[str, float], fallback: dict[str, float]) -> None:
        self._averages = dict(initial)
        self._fallback = fallback
        self._samples: dict[str, int] = {}
        self.revision = 0  # counts recorded runs: when it moved, ETAs may have too

    def estimate(self, model: str) -> float:
        return self._averages.get(model, self._fallback.get(model, 60.0))

    def record(self, model: str, seconds: float) -> tuple[float, int]:
        previous = self._averages.get(model)
        average = seconds if previous is None else previous + self.SMOOTHING * (seconds - previous)
        self._averages[model] = average
        self._samples[model] = self._samples.get(model, 0) + 1
        self.revision += 1
        return average, self._samples[model]


def place_of(
    queue: FairQueue, run_times: RunTimes, job_id: str, parallel_slots: int, *, paused: bool = False
) -> QueuePlace | None:
    """Position and ETA of a queued job: the jobs ahead spread over the slots, plus its own run.

    The jobs ahead are costed at the queue's mean run time (weighted by how many jobs
    of each model wait), which keeps this O(models) however long the queue is.
    """
    position = queue.position(job_id)
    job = queue.get(job_id)
    if position is None or job is None:
        return None
    counts = queue.model_counts()
    mean = sum(run_times.estimate(model) * count for model, count in counts.items()) / max(sum(counts.values()), 1)
    eta = (position - 1) * mean / max(parallel_slots, 1) + run_times.estimate(job.request.model)
    return QueuePlace(position=position, eta_seconds=eta, paused=paused)
