"""The low-disk guard: below DISK_MIN_FREE_BYTES free, no new job starts and no clip is fetched.

Checked for the clips folder and the database's folder (they may be on different
disks). A job reaching its download waits here instead of failing half-way
through it; the dispatcher starts nothing until space returns, then wakes. The
state shows in job status messages, `doctor`, the metrics and the log.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot import metrics
from bot.backends.base import ExternalWait, await_directly

log = logging.getLogger(__name__)

# How often a held job or the held dispatcher looks again, and how long one reading is reused
# (the dispatcher asks on every pass).
RECHECK_SECONDS = 5.0
READING_SECONDS = 1.0
WAITING_STATUS = "waiting for disk space"


@dataclass(frozen=True, slots=True)
class DiskReading:
    place: str  # "clips" or "database": a metric label
    path: Path
    free_bytes: int


def free_space(places: Mapping[str, Path]) -> list[DiskReading]:
    """Free bytes where each folder is (or its nearest existing parent, before the folder is made)."""
    readings = []
    for place, path in places.items():
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        readings.append(DiskReading(place, path, shutil.disk_usage(existing).free))
    return readings


def low_readings(readings: Sequence[DiskReading], min_free_bytes: int) -> list[DiskReading]:
    return [reading for reading in readings if reading.free_bytes < min_free_bytes]


def describe(readings: Sequence[DiskReading]) -> str:
    return ", ".join(f"{reading.free_bytes / 1e6:,.0f} MB free for {reading.path}" for reading in readings)


class DiskGuard:
    """Whether jobs must wait for disk space, and one thread that watches for it to come back.

    The waits are on that thread's future (no timer, no task), so every held job and
    the held dispatcher share one watcher, and SimCord counts them as external waits.
    """

    def __init__(
        self,
        places: Mapping[str, Path],
        min_free_bytes: int,
        *,
        wait: ExternalWait = await_directly,
        recheck_seconds: float = RECHECK_SECONDS,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._places = dict(places)
        self._min_free = min_free_bytes
        self._wait = wait
        self._recheck = recheck_seconds
        self._on_change = on_change
        self._low = False
        self._read_at = -READING_SECONDS
        self._space_back: asyncio.Future[None] | None = None
        self._closed = threading.Event()

    @property
    def low(self) -> bool:
        """Whether free space is below the threshold (a reading at most a second old)."""
        if self._min_free > 0 and time.monotonic() - self._read_at >= READING_SECONDS:
            self._take_reading()
        return self._low

    def _take_reading(self) -> None:
        self._read_at = time.monotonic()
        readings = free_space(self._places)
        for reading in readings:
            metrics.disk_free(reading.place, reading.free_bytes)
        low = low_readings(readings, self._min_free)
        if bool(low) == self._low:
            return
        self._low = bool(low)
        metrics.disk_low(self._low)
        if self._low:
            log.warning(
                "disk space is low (%s; DISK_MIN_FREE_BYTES is %s): jobs are %s",
                describe(low),
                self._min_free,
                WAITING_STATUS,
            )
        else:
            log.info("disk space is back (%s): jobs continue", describe(readings))
        if self._on_change is not None:
            self._on_change(self._low)

    async def wait_for_space(self, job_id: str) -> None:
        """Return once there is space to fetch a clip; counted in the metrics while it waits."""
        if not self.low:
            return
        log.info("job %s is %s before fetching its clip", job_id, WAITING_STATUS)
        metrics.JOBS_HELD_FOR_DISK.inc()
        try:
            while self.low:
                await self._wait(asyncio.shield(self._watch()), f"job {job_id}: {WAITING_STATUS}")
                self._read_at = -READING_SECONDS  # read again now, not a second from now
        finally:
            metrics.JOBS_HELD_FOR_DISK.dec()

    def hold_dispatch(self, wake: Callable[[], None]) -> bool:
        """True while no new job may start; `wake` is called once space is back."""
        if not self.low:
            return False
        self._watch().add_done_callback(lambda _: wake())
        return True

    def _watch(self) -> asyncio.Future[None]:
        if self._space_back is None or self._space_back.done():
            loop = asyncio.get_running_loop()
            self._space_back = loop.run_in_executor(None, self._until_space)
        return self._space_back

    def _until_space(self) -> None:
        """On a thread: poll until every place has space again (or the guard closes)."""
        while not self._closed.wait(self._recheck):
            if not low_readings(free_space(self._places), self._min_free):
                return

    async def close(self) -> None:
        self._closed.set()
        if self._space_back is not None:
            await asyncio.gather(self._space_back, return_exceptions=True)
