"""Job events: the core publishes, the Discord side (status messages) subscribes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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
        # A tuple, replaced on (un)subscribe: every checkpoint publishes, few ever subscribe,
        # and a listener that unsubscribes while called leaves the loop's snapshot as it was.
        self._listeners: tuple[Listener, ...] = ()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners = (*self._listeners, listener)
        return partial(self._unsubscribe, listener)

    def _unsubscribe(self, listener: Listener) -> None:
        listeners = list(self._listeners)
        listeners.remove(listener)
        self._listeners = tuple(listeners)

    def publish(self, kind: EventKind, job: Job) -> None:
        event = JobEvent(kind, job)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                # A broken listener must not stop a job moving on.
                log.exception("job event listener failed for job %s", job.id)
