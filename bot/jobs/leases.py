"""A runner that is one worker among several on one database: claims, leases, takeovers.

Each dispatch pass is one transaction, with every other claim held off (`lock_claims`)
so that the running limits count every process's jobs: it first takes over active
jobs whose lease ran out (their worker died), then claims waiting jobs in the stored
fair order (lane, tag, arrival) within the member, guild, model and backend limits.
Every job this worker drives is leased to it; the lease is renewed in the background
and on every checkpoint, which is fenced: a checkpoint of a job whose lease went to
another worker writes nothing (`LeaseLost`), and the renewal stops the job's task.

A job taken over resumes like a job after a restart: polled again with its stored
backend id, never resubmitted; one caught while posting is posted again under its
nonce, which Discord enforces, so the clip appears once.

Lease times are wall-clock epoch seconds (`time.time`), compared across hosts: keep
the hosts' clocks in sync (NTP), as every lease-based system asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from bot.backends.base import Backend
from bot.clock import to_epoch
from bot.domain.jobs import ACTIVE_STATES, Job, JobState
from bot.guilds import PAUSED_EVERYWHERE
from bot.jobs.limits import RunningLimits
from bot.jobs.runner import Runner
from bot.models import ModelCatalog
from bot.store.transaction import Tx

log = logging.getLogger(__name__)
T = TypeVar("T")

# How a lease of LEASE_SECONDS is spent, so that a dead worker's jobs are taken over
# within LEASE_SECONDS of its death: the lease runs for most of it, and the other
# workers look for expired leases often enough to find it in the rest.
LEASE_SHARE = 0.6
RENEW_SHARE = 0.25
LOOK_SHARE = 0.1
MAX_LOOK_SECONDS = 1.0
CLAIM_GATHER_SECONDS = 0.01
CLAIM_RETRY_SECONDS = (0.002, 0.02)
# A claim reads the waiting jobs a page at a time, the first page a few times what it may
# start (members at their limit are passed over), each next page twice as long.
FIRST_PAGE_PER_SLOT = 4
MAX_CLAIM_READ = 4000
WAKE_CHANNEL = "footage_jobs"
CONTROL_CHANNEL = "footage_control"


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Who this worker is among the others, and its share of the work."""

    owner: str  # unique per process: host, pid and a random part
    lease_seconds: float  # a dead worker's jobs are taken over within this
    max_jobs: int  # jobs this worker drives at once
    on_workers: Callable[[int], None] | None = None  # told how many workers are alive


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Claim:
    taken_over: list[tuple[Job, str | None]]  # with the worker whose lease ran out (None: it had none)
    started: list[Job]
    locked_out: bool = False  # another process was claiming: nothing was looked at


@dataclass(frozen=True, slots=True)
class ClaimRules:
    catalog: ModelCatalog
    guild_max_running: int


def take_over_expired(tx: Tx, *, owner: str, limit: int, now: float, until: float) -> list[tuple[Job, str | None]]:
    """Lease to `owner` up to `limit` jobs whose worker stopped renewing.

    Needs no claim lock: the jobs already count among the running ones, and rows another
    worker is taking over at the same moment are passed over."""
    taken_over = tx.expired_leases(now, limit)
    tx.grant_leases([job.id for job, _ in taken_over], owner, until)
    return taken_over


def claim_jobs(
    tx: Tx, *, owner: str, rules: ClaimRules, capacity: int, adopt: int, moved_at: float, now: float, until: float
) -> Claim:
    """One dispatch pass for `owner`: take over up to `adopt` expired leases, then claim waiting
    jobs in fair order while `capacity` is left."""
    if not tx.lock_claims():
        return Claim([], [], locked_out=True)
    taken_over = take_over_expired(tx, owner=owner, limit=adopt, now=now, until=until)
    capacity -= len(taken_over)
    if capacity <= 0 or tx.get_meta(PAUSED_EVERYWHERE) == "1":
        return Claim(taken_over, [])
    limits = RunningLimits(rules.catalog, rules.guild_max_running, tx.jobs_in_states(ACTIVE_STATES), tx.paused_guilds())
    chosen: list[Job] = []
    offset, page = 0, max(min(capacity, limits.free_slots()) * FIRST_PAGE_PER_SLOT, 16)
    while capacity > 0 and limits.has_free_slot() and offset < MAX_CLAIM_READ:
        waiting = tx.waiting_jobs(page, offset)
        for job in waiting:
            if not limits.admits(job):
                continue
            chosen.append(job)
            limits.take(job)
            capacity -= 1
            if capacity <= 0 or not limits.has_free_slot():
                break
        if len(waiting) < page:
            break
        offset, page = offset + page, page * 2
    # Moved together once chosen: the pages stay as read, and the moves are one statement.
    started = tx.move_jobs(chosen, JobState.SUBMITTING, moved_at)
    tx.grant_leases([job.id for job in started], owner, until)
    return Claim(taken_over, started)


class LeasedRunner(Runner):
    """Claims from the database instead of a queue of its own; holds each job under a lease."""

    stores_fetching = True

    def __init__(
        self,
        *args: object,
        owner: str,
        lease_seconds: float,
        max_jobs: int,
        lease_clock: Callable[[], float] = time.time,
        on_workers: Callable[[int], None] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.owner = owner
        self._lease = lease_seconds * LEASE_SHARE
        self._renew_every = lease_seconds * RENEW_SHARE
        self._look_every = min(lease_seconds * LOOK_SHARE, MAX_LOOK_SECONDS)
        self._max_jobs = max_jobs
        self._lease_clock = lease_clock
        self._on_workers = on_workers
        self._renew_task: asyncio.Task[None] | None = None
        self._retry_claim = random.Random()
        self.takeovers = 0
        self._next_adoption = 0.0  # perf_counter time of a full worker's next look for expired leases

    @property
    def _rules(self) -> ClaimRules:
        return ClaimRules(self._catalog, self._guild_max_running)

    # Lifecycle

    async def start(self) -> None:
        await self._renew()  # counts this worker among the live ones before its first claim
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="footage-worker-claims")
        self._renew_task = asyncio.create_task(self._renew_loop(), name="footage-worker-leases")

    async def stop(self) -> None:
        """Stop driving and give the leases up, so another worker takes the jobs over at once."""
        if self._renew_task is not None:
            self._renew_task.cancel()
            await asyncio.gather(self._renew_task, return_exceptions=True)
        await super().stop()
        owner = self.owner

        def sign_off(tx: Tx) -> None:
            tx.renew_leases(owner, 0.0)  # run out now: another worker takes the jobs over at its next look
            tx.forget_worker(owner)

        try:
            await self._store.write(sign_off)
        except Exception:
            log.exception("could not sign worker %s off; its leases run out by themselves", owner)

    async def recover(self) -> None:
        return None  # nothing is this worker's at start: every claim pass takes over what is left

    def on_control(self, job_id: str) -> None:
        """A gateway changed a job (canceled it): if this worker drives it, look at once."""
        if job_id in self._tasks:
            asyncio.get_running_loop().create_task(self._renew())

    # Dispatch

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                locked_out = await self._claim_pass()
            except Exception:
                log.exception("claim failed; will retry")
                locked_out = False
            if locked_out:  # another worker is claiming: try again in a moment, not at the next wake-up
                await asyncio.sleep(self._retry_claim.uniform(*CLAIM_RETRY_SECONDS))
                continue
            # A notification can be missed: look again after a while in any case.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait(self._wake.wait(), "worker idle"), self._look_every)
            # Jobs finish in bursts: let the ones finishing now free their slots, then claim for all.
            await asyncio.sleep(CLAIM_GATHER_SECONDS)

    async def _claim_pass(self) -> bool:
        """One claim pass; True when another worker's claim held this one off."""
        capacity = self._max_jobs - len(self._tasks)
        now = self._lease_clock()
        mark = time.perf_counter()
        if capacity > 0:
            claim = partial(
                claim_jobs,
                owner=self.owner,
                rules=self._rules,
                capacity=capacity,
                adopt=self._max_jobs,
                moved_at=to_epoch(self._clock()),
                now=now,
                until=now + self._lease,
            )
            result = await self._store.write(claim)
            if result.locked_out:
                return True
        elif mark >= self._next_adoption:
            # A full worker still adopts a dead worker's jobs (running above its share for a while):
            # when every worker is full, waiting for a free slot would hold them past the lease time.
            self._next_adoption = mark + self._look_every
            adopt = partial(take_over_expired, owner=self.owner, limit=self._max_jobs, now=now, until=now + self._lease)
            result = Claim(await self._store.write(adopt), [])
        else:
            return False
        self.stats = self.stats.add(dispatched=len(result.started), choosing=time.perf_counter() - mark)
        if result.started or result.taken_over:
            log.debug(
                "worker %s claimed %d jobs and took %d over",
                self.owner,
                len(result.started),
                len(result.taken_over),
                extra={
                    "claimed": [job.id for job in result.started],
                    "taken_over": [(job.id, previous) for job, previous in result.taken_over],
                },
            )
        for job, previous in result.taken_over:
            self.takeovers += 1
            log.info("worker %s takes over job %s (%s) from %s", self.owner, job.id, job.state.value, previous)
            await self._resume(job, "its worker stopped during submit")
        for job in result.started:
            self._launch(job)
            self._events.publish("state", job)
        return False

    # Leases

    def _guarded(self, job_id: str, work: Callable[[Tx], T], *, finishing: bool) -> Callable[[Tx], T]:
        owner, until = self.owner, self._lease_clock() + self._lease

        def fenced(tx: Tx) -> T:
            tx.fence(job_id, owner, until, release=finishing)
            return work(tx)

        return fenced

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                await self._renew()
            except Exception:
                log.exception("lease renewal failed; will retry")

    async def _renew(self) -> None:
        now = self._lease_clock()
        owner, until, since = self.owner, now + self._lease, now - self._lease

        def renew(tx: Tx) -> tuple[dict[str, JobState], int]:
            held = tx.renew_leases(owner, until)
            for job_id, state in held.items():
                if state.finished:  # finished by another process (a cancel): no lease needed
                    tx.drop_lease(job_id)
            tx.worker_seen(owner, now)
            return held, tx.live_workers(since)

        held, workers = await self._store.write(renew)
        if self._on_workers is not None:
            self._on_workers(workers)
        for job_id, task in list(self._tasks.items()):
            state = held.get(job_id)
            if state is None:
                log.warning("worker %s lost the lease on job %s; stops driving it", owner, job_id)
                task.cancel()  # not at the backend: the job is another worker's now
            elif state.finished and job_id in self._running:
                self.abort(self._running[job_id])  # canceled elsewhere: stop it at the backend too

    async def _cancel_at_backend(self, job_id: str, backend: Backend | None) -> None:
        """Never cancel at the backend a job another worker drives now (an abort was ours to do)."""
        owner, until = self.owner, self._lease_clock() + self._lease
        if job_id in self._aborting or await asyncio.shield(
            self._store.write(lambda tx: tx.hold_lease(job_id, owner, until))
        ):
            await super()._cancel_at_backend(job_id, backend)
