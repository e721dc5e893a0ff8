"""The store: the only door to the database, whichever database it is.

`write(work)` and `read(work)` run `work(tx)` in the implementation's next
transaction, on its own thread (see `Tx`). A write is atomic: if `work` raises,
everything it wrote is rolled back and the exception reaches the caller. `work`
may run more than once, so it only computes and queries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bot.store.guild_cache import GuildCache
from bot.store.transaction import Tx

T = TypeVar("T")


class DatabaseUnreachable(Exception):
    """The database cannot be reached; the message says why, and never holds a password."""


class StoreBusy(Exception):
    """The database stayed locked, full or failing past the store's retry window.

    Nothing of the work was written. A caller that must not lose its step (the runner's
    checkpoints) tries again later; others report it.
    """


class Store(ABC):
    def __init__(self) -> None:
        self._guild_cache = GuildCache()

    @property
    @abstractmethod
    def kind(self) -> str:
        """Which database: "sqlite" or "postgresql" (bench queue and doctor print it)."""

    @property
    @abstractmethod
    def batches(self) -> int:
        """Transactions committed so far: how well writes are being grouped (bench queue prints it)."""

    @abstractmethod
    async def close(self) -> None:
        """Finish the work already handed over, then close."""

    @abstractmethod
    def _run(self, work: Callable[[Tx], T], *, writes: bool) -> Awaitable[T]:
        """Run `work` in the next transaction; a write that raises is rolled back alone."""

    # Plain functions returning the awaitable (not coroutines): one frame fewer per store call.
    def write(self, work: Callable[[Tx], T]) -> Awaitable[T]:
        def write_or_forget(tx: Tx) -> T:
            try:
                return work(tx)
            except BaseException:
                self._guild_cache.clear()  # it may hold what the rollback is about to undo
                raise

        return self._run(write_or_forget, writes=True)

    def read(self, work: Callable[[Tx], T]) -> Awaitable[T]:
        return self._run(work, writes=False)

    @abstractmethod
    async def listen(self, channels: Sequence[str], on_notice: Callable[[str, str], None]) -> None:
        """Call `on_notice(channel, payload)` for every notification on `channels`, until canceled.

        Also called with ("", "") each time listening (re)starts, since notifications sent
        meanwhile are lost. A database that no other process shares sends none.
        """
