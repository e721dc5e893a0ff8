"""The runner of a gateway process: it drives no job itself, the worker processes do.

A gateway answers interactions and enqueues; everything else reaches the workers
through the database. A new job (or a freed slot, a resumed guild) wakes them
with one notification per burst on `WAKE_CHANNEL`; a cancel, already stored by the
time it is announced, names the job on `CONTROL_CHANNEL` so that the worker
holding it stops at once instead of at its next lease renewal. Notifications can
be missed, so the workers also look by themselves (see `LeasedRunner`).

The gateway still answers "where am I in the queue": every `QUEUE_REFRESH_SECONDS` it
compares its queue with the ids of the jobs waiting in the database, so positions,
ETAs and the virtual time a newcomer's tag starts from follow what the workers have
claimed (and what other gateways queued). The jobs that left are taken out and only
the new ones are read, so the work grows with what changed. Reading every waiting
job back rebuilt the whole queue on the event loop each time, and found the virtual
time by a walk over every job that ever left the queue (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.domain.jobs import Job, WaitingJob
from bot.jobs.leases import CONTROL_CHANNEL, WAKE_CHANNEL
from bot.jobs.runner import RECOVERY_PAGE, Runner
from bot.quotas.service import NORMAL_LANE
from bot.store.transaction import Tx

log = logging.getLogger(__name__)

QUEUE_REFRESH_SECONDS = 2.0


class GatewayRunner(Runner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._telling: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._load()
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="footage-gateway-notices")

    async def recover(self) -> None:
        return None  # a worker takes over whatever was left running

    def abort(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self._tell(CONTROL_CHANNEL, job.id))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    def running_jobs(self) -> list[Job]:
        return []  # they run in the workers

    async def _dispatch_loop(self) -> None:
        while True:
            woken = False
            with contextlib.suppress(TimeoutError):
                woken = await asyncio.wait_for(self._wake.wait(), QUEUE_REFRESH_SECONDS)
            self._wake.clear()
            try:
                if woken:
                    await self._tell(WAKE_CHANNEL, "")
                else:
                    await self._refresh()
                    await self._announce_new_positions()
            except Exception:
                log.exception("gateway could not reach the workers through the database; will retry")

    async def _tell(self, channel: str, payload: str) -> None:
        await self._store.write(lambda tx: tx.notify(channel, payload))

    async def _load(self) -> None:
        def load(tx: Tx) -> tuple[list[WaitingJob], float | None]:
            # In one transaction, a page at a time: the queue is replaced by one consistent view.
            waiting: list[WaitingJob] = []
            seq = 0
            while len(page := tx.waiting_after(seq, RECOVERY_PAGE)) == RECOVERY_PAGE:
                waiting += page
                seq = page[-1].seq
            return [*waiting, *page], tx.highest_started_tag()

        waiting, started_tag = await self._store.read(load)
        self._queue.reset(waiting, started_tag)

    async def _refresh(self) -> None:
        """Follow the database's waiting jobs, at a cost that grows with what changed."""
        known = {entry.id for entry in self._queue.waiting()}  # before the read: a job queued meanwhile stays
        stored = await self._store.read(lambda tx: tx.waiting_job_ids())
        left_tags = [
            entry.sched_tag
            for job_id in known - stored
            if (entry := self._queue.remove(job_id)) is not None and entry.lane == NORMAL_LANE
        ]
        # Left the queue: started by a worker, or canceled while waiting, which counts too (as at a restart).
        self._queue.restore_virtual_time(max(left_tags, default=None))
        new = [job_id for job_id in stored if job_id not in self._queue]
        if new:
            for job in await self._store.read(lambda tx: tx.waiting_by_ids(new)):
                self._queue.add_waiting(job)
