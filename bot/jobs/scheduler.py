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
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from bot.domain.jobs import Job, WaitingJob
from bot.domain.records import QueueShare

UserKey = tuple[int, int]  # (guild_id, user_id)
MIN_WEIGHT = 0.01
# Positions up to this are shown as numbers; behind it a job reads "at least this many ahead".
EXACT_POSITIONS = 20
# Whole jobs kept for the first this many places: their status messages are the ones a
# move edits, and a job just queued at the front starts without being read back.
HELD_PLACES = 2 * (EXACT_POSITIONS + 1)


class QueueEntry(NamedTuple):
    """A waiting job as the queue holds it: a tuple, a few hundred bytes, not the whole job.

    The first three fields are the sort key (lane, tag, arrival); arrivals are unique,
    so the fields after them are never compared. `member` is one tuple shared by all
    of a member's entries.
    """

    lane: int
    sched_tag: float
    arrival: int
    id: str
    member: UserKey
    model: str
    backend: str
    max_running: int

    @property
    def guild_id(self) -> int:
        return self.member[0]

    @property
    def user_id(self) -> int:
        return self.member[1]


@dataclass(frozen=True, slots=True)
class QueuePlace:
    position: int  # 1 = next to run
    eta_seconds: float  # until the clip should be ready
    paused: bool = False  # its server (or the whole bot) is paused: no ETA holds

    @property
    def exact(self) -> bool:
        """Whether the position is shown as a number (else only as far back)."""
        return self.position <= EXACT_POSITIONS


def _never(entry: QueueEntry) -> bool:
    return False


class FairQueue:
    def __init__(self) -> None:
        self._order: list[QueueEntry] = []
        # The same entries per user, and each user's first entry in order: a dispatch pass
        # merges the users' queues, so a user who can't start anything now is passed
        # over once, not once per waiting job.
        self._by_user: dict[UserKey, list[QueueEntry]] = {}
        self._heads: list[tuple[QueueEntry, UserKey]] = []
        self._entries: dict[str, QueueEntry] = {}
        self._held: dict[str, Job] = {}  # whole jobs, only within the first HELD_PLACES
        self._virtual = 0.0
        self._arrivals = 0
        self._per_model: dict[str, int] = {}
        self._changes = 0

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    @property
    def changes(self) -> int:
        """Counts additions and removals: when it moved, positions may have too."""
        return self._changes

    @property
    def virtual_time(self) -> float:
        """The tag of the last normal-lane job that started: where a newcomer's tag begins."""
        return self._virtual

    def add(self, job: Job) -> None:
        """Queue a new job with its stored tag (kept whole if it lands at the front). Adding twice changes nothing."""
        index = self._insert(
            job.id, job.guild_id, job.user_id, job.lane, job.sched_tag, job.model, job.backend, job.max_running
        )
        if index is not None and index < HELD_PLACES:
            self._held[job.id] = job

    def add_waiting(self, job: WaitingJob) -> None:
        """Queue a job read back from the store (recovery). Adding twice changes nothing."""
        self._insert(
            job.id, job.guild_id, job.user_id, job.lane, job.sched_tag, job.model, job.backend, job.max_running
        )

    def _insert(
        self, job_id: str, guild_id: int, user_id: int, lane: int, tag: float, model: str, backend: str, running: int
    ) -> int | None:
        """The new entry's index in the queue order, or None when the job was queued already."""
        if job_id in self._entries:
            return None
        self._arrivals += 1
        self._changes += 1
        user = (guild_id, user_id)
        waiting = self._by_user.setdefault(user, [])
        head = waiting[0] if waiting else None
        member = head.member if head is not None else user
        # Interned: read back from the store, every row would bring its own copy of the names.
        entry = QueueEntry(lane, tag, self._arrivals, job_id, member, sys.intern(model), sys.intern(backend), running)
        index = bisect.bisect_left(self._order, entry)
        self._order.insert(index, entry)
        if index < HELD_PLACES and len(self._order) > HELD_PLACES:
            self._held.pop(self._order[HELD_PLACES].id, None)  # pushed out of the front
        bisect.insort(waiting, entry)
        if waiting[0] is not head:
            self._move_head(member, head, waiting[0])
        self._entries[job_id] = entry
        self._per_model[entry.model] = self._per_model.get(entry.model, 0) + 1
        return index

    def remove(self, job_id: str) -> QueueEntry | None:
        entry = self._entries.pop(job_id, None)
        if entry is None:
            return None
        self._changes += 1
        self._held.pop(job_id, None)
        del self._order[bisect.bisect_left(self._order, entry)]
        user = entry.member
        waiting = self._by_user[user]
        index = bisect.bisect_left(waiting, entry)
        del waiting[index]
        if index == 0:
            self._move_head(user, entry, waiting[0] if waiting else None)
        if not waiting:
            del self._by_user[user]
        self._per_model[entry.model] -= 1
        return entry

    def reset(self, jobs: Iterable[WaitingJob], highest_started_tag: float | None) -> None:
        """Hold exactly `jobs` (read back from the database), the virtual time restored with them."""
        self._order.clear()
        self._by_user.clear()
        self._heads.clear()
        self._entries.clear()
        self._held.clear()
        self._per_model.clear()
        for job in jobs:
            self.add_waiting(job)
        self.restore_virtual_time(highest_started_tag)

    def restore_virtual_time(self, highest_started_tag: float | None) -> None:
        """After a restart: virtual time as it stood, so newcomers don't jump the queue.

        It was the tag of the last normal-lane job started, and never past the
        earliest waiting one; `highest_started_tag` comes from the stored jobs (a job
        canceled while waiting counts too, hence the clamp to the waiting head).
        """
        if highest_started_tag is None:
            return
        head = self._order[0].sched_tag if self._order and self._order[0].lane == 0 else None
        restored = highest_started_tag if head is None else min(highest_started_tag, head)
        self._virtual = max(self._virtual, restored)

    def dispatched(self, entry: QueueEntry) -> None:
        """Remove a job that starts running and move virtual time up to its tag."""
        if self.remove(entry.id) is not None and entry.lane == 0:
            self._virtual = max(self._virtual, entry.sched_tag)

    def in_order(self, user_blocked: Callable[[QueueEntry], bool] = _never) -> Iterator[QueueEntry]:
        """Waiting jobs, next first: the users' own queues merged by key.

        When a user's next job surfaces and `user_blocked(entry)` says the user can't
        start anything now, the rest of that user's jobs are passed over in one step,
        so a walk costs O(log users) per job it yields or user it passes over, however
        many jobs wait behind them. The predicate is asked afresh each time, after the
        caller has acted on the jobs before. Start (remove) jobs after the walk, not
        during it.
        """
        untouched = 0  # users whose head this walk has not reached yet: self._heads[untouched:]
        touched: list[tuple[QueueEntry, UserKey]] = []  # the next job of each user already yielded
        while True:
            fresh = self._heads[untouched] if untouched < len(self._heads) else None
            if touched and (fresh is None or touched[0] < fresh):
                entry, user = heapq.heappop(touched)
            elif fresh is not None:
                entry, user = fresh
                untouched += 1
            else:
                return
            if user_blocked(entry):
                continue  # none of the user's later jobs is pushed: all are passed over
            yield entry
            waiting = self._by_user[user]
            after = bisect.bisect_right(waiting, entry)
            if after < len(waiting):
                heapq.heappush(touched, (waiting[after], user))

    def _move_head(self, user: UserKey, old: QueueEntry | None, new: QueueEntry | None) -> None:
        if old is not None:
            del self._heads[bisect.bisect_left(self._heads, (old, user))]
        if new is not None:
            bisect.insort(self._heads, (new, user))

    def first(self, count: int) -> list[QueueEntry]:
        return self._order[:count]

    def get(self, job_id: str) -> QueueEntry | None:
        return self._entries.get(job_id)

    def held(self, job_id: str) -> Job | None:
        """The whole job, if the queue keeps it (it waits within the first `HELD_PLACES`)."""
        return self._held.get(job_id)

    def hold(self, job: Job) -> None:
        """Keep a job read back from the store whole, if it still waits within the first `HELD_PLACES`."""
        entry = self._entries.get(job.id)
        if entry is not None and bisect.bisect_left(self._order, entry) < HELD_PLACES:
            self._held[job.id] = job

    def waiting(self) -> list[QueueEntry]:
        """Every waiting job, in no particular order."""
        return list(self._entries.values())

    def position(self, job_id: str) -> int | None:
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        return bisect.bisect_left(self._order, entry) + 1

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
    entry = queue.get(job_id)
    if position is None or entry is None:
        return None
    counts = queue.model_counts()
    mean = sum(run_times.estimate(model) * count for model, count in counts.items()) / max(sum(counts.values()), 1)
    eta = (position - 1) * mean / max(parallel_slots, 1) + run_times.estimate(entry.model)
    return QueuePlace(position=position, eta_seconds=eta, paused=paused)
