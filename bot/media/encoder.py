"""How many re-encodes run at once, and the threads and memory each may use.

One 1080p re-encode takes a few hundred MiB and every core it is given; unbounded,
a busy hour would run dozens together and starve the bot. `EncodeSlots` hands out
at most `parallel` slots, first come first served; a job that has to wait is told
(its status message shows it).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import metrics
from bot.backends.base import ExternalWait, await_directly

if TYPE_CHECKING:
    from bot.settings import Settings

MIB = 1024 * 1024
# x264 gains little past this many threads on clips of Discord's sizes, and each costs memory.
MAX_DEFAULT_THREADS = 8
# A 1080p→720p re-encode with 2 threads maps ~310 MiB of data (see docs/operations.md).
MIN_DEFAULT_MEMORY = 512 * MIB
MAX_DEFAULT_MEMORY = 1024 * MIB


def machine_cpus() -> int:
    """The CPUs this process may run on (a container's affinity, not the host's count)."""
    return max(1, len(os.sched_getaffinity(0)))


def machine_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class EncoderLimits:
    parallel: int  # re-encodes at once
    threads: int  # ffmpeg threads for each (decoder, scaler and x264)
    memory_bytes: int  # the data-segment ceiling of each ffmpeg process

    @classmethod
    def for_machine(
        cls, *, parallel: int | None = None, threads: int | None = None, memory_mib: int | None = None
    ) -> EncoderLimits:
        """What is given, the rest from the machine: a slot per 4 CPUs, the CPUs shared among the slots,
        and a quarter of the memory shared among them (between 512 MiB and 1 GiB each)."""
        cpus = machine_cpus()
        parallel = parallel or max(1, cpus // 4)
        threads = threads or max(1, min(MAX_DEFAULT_THREADS, cpus // parallel))
        if memory_mib is not None:
            memory = memory_mib * MIB
        else:
            memory = min(MAX_DEFAULT_MEMORY, max(MIN_DEFAULT_MEMORY, machine_memory() // 4 // parallel))
        return cls(parallel=parallel, threads=threads, memory_bytes=memory)

    @classmethod
    def from_settings(cls, settings: Settings) -> EncoderLimits:
        return cls.for_machine(
            parallel=settings.fit_parallel, threads=settings.fit_threads, memory_mib=settings.fit_memory_mib
        )

    def describe(self) -> str:
        return f"{self.parallel} at once, {self.threads} threads and {self.memory_bytes // MIB} MiB each"


class EncodeSlots:
    """At most `limits.parallel` re-encodes at once; the rest wait in arrival order."""

    def __init__(self, limits: EncoderLimits) -> None:
        self.limits = limits
        self._free = asyncio.Semaphore(limits.parallel)

    @asynccontextmanager
    async def slot(
        self, on_wait: Callable[[], None] | None = None, wait: ExternalWait = await_directly
    ) -> AsyncIterator[None]:
        """Hold a slot for the body; `on_wait` is called once if none is free right away.

        The wait for a slot is a wait on other clips' ffmpeg processes, so it goes through `wait`.
        """
        if self._free.locked():
            if on_wait is not None:
                on_wait()
            with metrics.reencode_waiting():
                await wait(self._free.acquire(), "fit: waiting for a free re-encode slot")
        else:
            await self._free.acquire()
        try:
            yield
        finally:
            self._free.release()
