"""Keeps status messages current: edits through the channel, throttled and coalesced.

Edits go through the bot's own channel messages, never the interaction token
(which dies after 15 minutes). Each message gets at most one edit per `interval`
seconds; events arriving in between collapse into the latest job snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.domain.jobs import Job
from bot.jobs.events import JobEvent

log = logging.getLogger(__name__)

# Returns False when the message can no longer be edited (deleted, no access): stop tracking it.
Editor = Callable[[Job, int, int], Awaitable[bool]]
Sleeper = Callable[[float], Awaitable[None]]

EDIT_INTERVAL = 2.0


class StatusUpdater:
    def __init__(self, edit: Editor, *, interval: float = EDIT_INTERVAL, sleep: Sleeper = asyncio.sleep) -> None:
        self._edit = edit
        self._interval = interval
        self._sleep = sleep
        self._ids: dict[str, tuple[int, int]] = {}
        self._latest: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def on_event(self, event: JobEvent) -> None:
        """EventBus listener: never blocks, only schedules."""
        self.push(event.job)

    def attach(self, job_id: str, channel_id: int, message_id: int) -> None:
        self._ids[job_id] = (channel_id, message_id)

    def push(self, job: Job) -> None:
        if job.id not in self._ids:
            if job.status_channel_id is None or job.status_message_id is None:
                return  # not answered yet; `attach` and a catch-up push follow
            self._ids[job.id] = (job.status_channel_id, job.status_message_id)
        self._latest[job.id] = job
        if job.id not in self._tasks:
            self._tasks[job.id] = asyncio.get_running_loop().create_task(self._run(job.id))

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def _run(self, job_id: str) -> None:
        try:
            while (job := self._latest.pop(job_id, None)) is not None:
                ids = self._ids.get(job_id)
                if ids is None:
                    return
                try:
                    keep = await self._edit(job, *ids)
                except Exception:
                    log.exception("status update for job %s failed", job_id)
                    keep = True
                if not keep or job.state.finished:
                    self._forget(job_id)
                    if not keep:
                        return
                # The pause after an edit is the throttle: anything newer waits for it.
                await self._sleep(self._interval)
        finally:
            self._tasks.pop(job_id, None)

    def _forget(self, job_id: str) -> None:
        self._ids.pop(job_id, None)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._latest.clear()
