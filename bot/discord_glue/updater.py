"""Keeps status messages current: through the channel, throttled, coalesced, only when they would change.

Edits go through the bot's own channel messages, never the interaction token
(which dies after 15 minutes). Each message gets at most one edit per `interval`
seconds; events arriving in between collapse into the latest job snapshot. A
snapshot that renders exactly as the message already reads costs no edit, so a
queue moving far behind a job (where only "far back" is shown) edits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.domain.jobs import Job
from bot.jobs.events import JobEvent

log = logging.getLogger(__name__)

Shown = TypeVar("Shown")
Render = Callable[[Job], Shown]
# Returns False when the message can no longer be edited (deleted, no access): stop tracking it.
Editor = Callable[[Job, Shown, int, int], Awaitable[bool]]
Sleeper = Callable[[float], Awaitable[None]]

EDIT_INTERVAL = 2.0


class StatusUpdater(Generic[Shown]):
    def __init__(
        self,
        render: Render[Shown],
        edit: Editor[Shown],
        *,
        interval: float = EDIT_INTERVAL,
        sleep: Sleeper = asyncio.sleep,
    ) -> None:
        self._render = render
        self._edit = edit
        self._interval = interval
        self._sleep = sleep
        self._ids: dict[str, tuple[int, int]] = {}
        self._shown: dict[str, Shown] = {}
        self._latest: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.edits = 0  # edits sent, for benchmarks and tests

    def on_event(self, event: JobEvent) -> None:
        """EventBus listener: never blocks, only schedules."""
        self.push(event.job)

    def attach(self, job_id: str, channel_id: int, message_id: int, shown: Shown | None = None) -> None:
        """Track a status message; `shown` is what it reads now (the first answer), so an equal render is no edit."""
        self._ids[job_id] = (channel_id, message_id)
        if shown is not None:
            self._shown[job_id] = shown

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
                shown = self._render(job)
                if self._shown.get(job_id) == shown:
                    if job.state.finished:
                        self._forget(job_id)
                    continue
                try:
                    keep = await self._edit(job, shown, *ids)
                except Exception:
                    log.exception("status update for job %s failed", job_id)
                    keep = True
                else:
                    self.edits += 1
                    self._shown[job_id] = shown
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
        self._shown.pop(job_id, None)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._latest.clear()
