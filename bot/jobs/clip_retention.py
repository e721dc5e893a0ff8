"""How long clips stay on disk: MEDIA_RETENTION_DAYS after posting, MEDIA_MAX_BYTES for the folder.

A sweep lists the clips folder and decides per file, from the job it belongs to:

- a clip (`<job id>.mp4`) of a delivered or failed job goes once MEDIA_RETENTION_DAYS
  have passed since the job finished (0: at the first sweep after posting);
- a clip of a canceled job, of a job the database does not know, a re-encode's
  leftover, a partial download and a demo render nobody fetched are leftovers: they
  go once nothing has written to them for LEFTOVER_AGE (no step takes that long, and
  another process sharing the folder may be writing a fresh one);
- a clip of an unfinished job stays: it is being fetched or posted, or will be
  again after a restart;
- then, while the folder is over MEDIA_MAX_BYTES, posted clips go, oldest first.

Posting is what matters: once a clip is posted, Discord keeps it, and `/show` links
the message. Sweeps run at start, after deliveries (at most one per SWEEP_GAP)
and every SWEEP_INTERVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from bot import metrics
from bot.backends.base import ExternalWait, await_directly
from bot.clock import Clock
from bot.domain.jobs import JOB_ID_ALPHABET, JOB_ID_LENGTH, Job, JobState
from bot.jobs.events import JobEvent
from bot.media.fit import STALE_REENCODE_SECONDS
from bot.store.store import Store
from bot.store.transaction import Tx

log = logging.getLogger(__name__)

LEFTOVER_AGE = timedelta(seconds=STALE_REENCODE_SECONDS)
SWEEP_INTERVAL = 3600.0
SWEEP_GAP = 60.0
# Jobs looked up per database read: a sweep must not hold the database thread for long.
LOOKUP_CHUNK = 500
_CLIP_NAME = re.compile(rf"^([{JOB_ID_ALPHABET}]{{{JOB_ID_LENGTH}}})\.(?:mp4|webm)$")


@dataclass(frozen=True, slots=True)
class MediaFile:
    path: Path
    size: int
    age: timedelta  # since it was last written, by the wall clock
    job_id: str | None  # set for `<job id>.mp4` (or `.webm`) directly in the clips folder


@dataclass(frozen=True, slots=True)
class Removal:
    path: Path
    size: int
    why: str  # expired | over_cap | leftover


def list_media(media_dir: Path) -> list[MediaFile]:
    """Every file under the clips folder (blocking: run it on a thread)."""
    files: list[MediaFile] = []
    wall = time.time()
    if not media_dir.is_dir():
        return files
    for folder, _, names in os.walk(media_dir):
        for name in names:
            path = Path(folder, name)
            try:
                stat = path.stat()
            except OSError:  # removed meanwhile
                continue
            match = _CLIP_NAME.match(name) if path.parent == media_dir else None
            age = timedelta(seconds=max(wall - stat.st_mtime, 0.0))
            files.append(MediaFile(path, stat.st_size, age, match.group(1) if match else None))
    return files


def plan_removals(
    files: Sequence[MediaFile],
    jobs: Mapping[str, Job],
    now: datetime,
    *,
    retention: timedelta,
    max_bytes: int,
) -> list[Removal]:
    removals: list[Removal] = []
    posted: list[tuple[datetime, MediaFile]] = []
    kept_bytes = 0
    for file in files:
        job = jobs.get(file.job_id) if file.job_id is not None else None
        if job is not None and not job.state.finished:
            kept_bytes += file.size
        elif job is not None and job.state is not JobState.CANCELED:
            finished = job.finished_at or job.updated_at
            if finished + retention <= now:
                removals.append(Removal(file.path, file.size, "expired"))
                continue
            kept_bytes += file.size
            if job.state is JobState.DELIVERED:
                posted.append((finished, file))
        elif file.age >= LEFTOVER_AGE:
            removals.append(Removal(file.path, file.size, "leftover"))
        else:
            kept_bytes += file.size
    for _, file in sorted(posted, key=lambda entry: entry[0]):
        if kept_bytes <= max_bytes:
            break
        removals.append(Removal(file.path, file.size, "over_cap"))
        kept_bytes -= file.size
    return removals


def _remove(removals: Sequence[Removal]) -> list[Removal]:
    removed = []
    for removal in removals:
        try:
            removal.path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.warning("could not remove %s: %s", removal.path, error)
            continue
        removed.append(removal)
    return removed


class ClipJanitor:
    def __init__(
        self,
        store: Store,
        media_dir: Path,
        clock: Clock,
        *,
        retention_days: float,
        max_bytes: int,
        wait: ExternalWait = await_directly,
    ) -> None:
        self._store = store
        self._media_dir = media_dir
        self._clock = clock
        self._retention = timedelta(days=retention_days)
        self._max_bytes = max_bytes
        self._wait = wait
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="footage-clip-janitor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def on_job_event(self, event: JobEvent) -> None:
        if event.kind == "state" and event.job.state is JobState.DELIVERED:
            self._kick.set()

    async def sweep(self) -> list[Removal]:
        files = await asyncio.to_thread(list_media, self._media_dir)
        ids = [file.job_id for file in files if file.job_id is not None]
        jobs: dict[str, Job] = {}
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            found = await self._store.read(partial(_lookup, chunk))
            jobs.update((job.id, job) for job in found if job is not None)
        plan = plan_removals(files, jobs, self._clock(), retention=self._retention, max_bytes=self._max_bytes)
        removed = await asyncio.to_thread(_remove, plan)
        for why in ("expired", "over_cap", "leftover"):
            gone = [removal for removal in removed if removal.why == why]
            if gone:
                metrics.clips_removed(why, len(gone))
                log.info("removed %d %s file(s) from %s (%d bytes)", len(gone), why, self._media_dir, _total(gone))
        return removed

    async def _run(self) -> None:
        await self._sweep_logged()
        while True:
            await self._wait(self._kicked_or_due(), "clip janitor: idle")
            self._kick.clear()
            await self._sweep_logged()
            await self._wait(asyncio.sleep(SWEEP_GAP), "clip janitor: spacing sweeps")

    async def _kicked_or_due(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SWEEP_INTERVAL):
                await self._kick.wait()

    async def _sweep_logged(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.exception("sweeping the clips folder failed; will try again")


def _lookup(job_ids: Sequence[str], tx: Tx) -> list[Job | None]:
    return [tx.get_job(job_id) for job_id in job_ids]


def _total(removals: Sequence[Removal]) -> int:
    return sum(removal.size for removal in removals)
