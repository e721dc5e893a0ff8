"""Job events: the core publishes, the Discord side (status messages) subscribes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.domain.jobs import Job

log = logging.getLogger(__name__)

EventKind = Literal["state", "progress"]


@dataclass(frozen=True, slots=True)
class JobEvent:
    kind: EventKind
    job: Job


Listener = Callable[[JobEvent], None]


class EventBus:
    """Synchronous fan-out. Listeners must not block: schedule work, don't do it."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, kind: EventKind, job: Job) -> None:
        event = JobEvent(kind, job)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                # A broken listener must not stop a job moving on.
                log.exception("job event listener failed for job %s", job.id)
