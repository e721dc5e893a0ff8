"""Group commit, the same for every database: many small work functions, one transaction.

Callers hand over a small synchronous function of a connection (`run`); every
function handed over while the previous batch was working runs in the next batch,
on the database's own thread, inside one BEGIN ... COMMIT. A batch costs one trip to
that thread however many statements it holds: the trip (a thread hand-off and an
event-loop wake-up, about 100 µs here) costs twenty times a short statement, and a
commit is what a database does fewest of per second, so batching is what lets many
jobs share it at full speed.

A write that raises must leave nothing behind and not disturb the others. The
batch first runs optimistically, without savepoints; if a write raises, it is
rolled back whole and run again with a savepoint around each write, so the
failing one alone is undone. A batch that lost a deadlock or a serialization
conflict to another process is rolled back and run again whole. So a work
function may run more than once: it must only compute and query, never act
outside the database.

A caller's answer arrives after its batch committed; a write whose caller stopped
waiting (a canceled task) may still land, exactly as if the process had stopped
right after the commit, which recovery already handles.

Short trouble is waited out: a batch that meets what the database calls "not now"
(a lock another process holds past its timeout, a full disk, an I/O error) is
rolled back whole and run again with backoff for up to `TRANSIENT_RETRY_SECONDS`,
with reads answered in between; only then do its callers get `StoreBusy`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bot import metrics
from bot.store.store import StoreBusy

log = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C")

# Loop steps the flusher yields after answering a batch. Two, because a job that just
# finished wakes the dispatcher, and its write that starts the next jobs is one step later.
_FOLLOW_UP_STEPS = 2
# Runs of a batch that keeps losing deadlocks or serialization conflicts before its callers hear so.
_CONFLICT_RUNS = 5
# How long a batch meeting transient trouble is run again before its callers hear `StoreBusy`.
TRANSIENT_RETRY_SECONDS = 30.0
_FIRST_RETRY_DELAY = 0.1
_MAX_RETRY_DELAY = 2.0


class Transactions(Protocol):
    """One connection's transaction control, in its database's own statements, on its thread."""

    def begin(self, writes: bool) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None:
        """Roll back the open transaction, if there is one."""
        ...

    def savepoint(self) -> None: ...
    def rollback_to_savepoint(self) -> None: ...
    def release_savepoint(self) -> None: ...
    def failed(self) -> bool:
        """The open transaction refuses further statements (a statement in it raised)."""
        ...

    def conflict(self, error: BaseException) -> bool:
        """`error` means another transaction won a race (deadlock, serialization): run the batch again."""
        ...

    def transient(self, error: BaseException) -> bool:
        """`error` means "not now" (a lock held past its timeout, a full disk, an I/O error): run it later."""
        ...


@dataclass(slots=True)
class Item(Generic[C]):
    work: Callable[[C], Any]
    writes: bool
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = field(default=(False, None))


class GroupCommit(ABC, Generic[C]):
    """The loop's side of the batches; an implementation runs `run_batch` on its own thread."""

    def __init__(self) -> None:
        self._pending: list[Item[C]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # how well writes are being grouped (bench queue prints it)

    @abstractmethod
    async def close(self) -> None:
        """Finish every batch already handed over (`_finish_batches`), then let go of the database."""

    @abstractmethod
    async def listen(self, channels: Sequence[str], on_notice: Callable[[str, str], None]) -> None:
        """Notifications from other processes on this database, until canceled (see `Store.listen`)."""

    @abstractmethod
    def _run_on_thread(self, batch: list[Item[C]]) -> Awaitable[None]:
        """Run `run_batch(transactions, connection, batch)` on the database's thread."""

    @abstractmethod
    def _transient(self, error: BaseException) -> bool:
        """As `Transactions.transient`, for a batch's failure seen from the loop."""

    @property
    @abstractmethod
    def _label(self) -> str:
        """The database as a message names it (a file path, a server without its password)."""

    def run(self, work: Callable[[C], T], *, writes: bool) -> asyncio.Future[T]:
        """Run `work` in the next batch; the future of its outcome. A write that raises is rolled back alone.

        A plain function, not a coroutine: every store call of a job passes through here,
        and the caller awaits the future itself, one frame fewer at each step.
        """
        if self._closed:
            raise RuntimeError("the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(Item(work, writes, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="footage-db-batches")
        return future

    async def _finish_batches(self) -> None:
        """Refuse new work and wait until every batch already handed over has run."""
        self._closed = True
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        batch: list[Item[C]] = []
        try:
            while self._pending:
                # A caller that stopped waiting before its batch left gets no write.
                batch = [item for item in self._pending if not item.future.cancelled()]
                self._pending = []
                if not batch:
                    continue
                self.batches += 1
                try:
                    batch = await self._run_retrying(batch)
                except Exception as error:  # the batch as a whole failed: every caller hears why
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(error)
                    continue
                _answer(batch)
                batch = []
                # The callers just answered take their next steps before the next batch
                # leaves, so the writes they make at once join it. And the database thread
                # does not work while the loop runs them: the two would trade the GIL at
                # every statement (docs/operations.md has the count of futex calls).
                for _ in range(_FOLLOW_UP_STEPS):
                    await asyncio.sleep(0)
        except BaseException:  # the batches are being torn down: no caller waits forever
            for item in (*batch, *self._pending):
                item.future.cancel()
            self._pending = []
            raise
        finally:
            self._flusher = None

    async def _run_retrying(self, batch: list[Item[C]]) -> list[Item[C]]:
        """Run the batch, again after transient trouble; the items that ran (callers still waiting)."""
        delay = _FIRST_RETRY_DELAY
        give_up = time.monotonic() + TRANSIENT_RETRY_SECONDS
        while True:
            try:
                await self._run_on_thread(batch)
            except Exception as error:
                if not self._transient(error):
                    raise
                if time.monotonic() + delay > give_up:
                    raise StoreBusy(f"database {self._label}: {error} for {TRANSIENT_RETRY_SECONDS:g} s") from error
                log.warning("database %s: %s; running the batch again in %.1f s", self._label, error, delay)
                await asyncio.sleep(delay)
                await self._answer_reads_meanwhile()
                delay = min(delay * 2, _MAX_RETRY_DELAY)
                batch = [item for item in batch if not item.future.cancelled()]
                if not batch:
                    return batch
                continue
            return batch

    async def _answer_reads_meanwhile(self) -> None:
        """While a write batch waits out a lock or a full disk, reads need not wait with it."""
        reads = [item for item in self._pending if not item.writes and not item.future.cancelled()]
        if not reads:
            return
        self._pending = [item for item in self._pending if item.writes]
        try:
            await self._run_on_thread(reads)
        except Exception as error:
            if self._transient(error):
                self._pending[:0] = reads  # they go with the next batch
                return
            for item in reads:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        except BaseException:  # torn down meanwhile: no caller waits forever
            for item in reads:
                item.future.cancel()
            raise
        _answer(reads)


def _answer(batch: list[Item[C]]) -> None:
    for item in batch:
        succeeded, value = item.outcome
        if item.future.done():
            continue
        if succeeded:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)


def run_batch(transactions: Transactions, connection: C, batch: list[Item[C]]) -> None:
    """The batch in one transaction, on the database's thread (see the module's text)."""
    started = time.perf_counter()
    try:
        for run in range(_CONFLICT_RUNS):
            try:
                # Savepoints cost two statements a write; most batches have no failing write, so
                # they run without, and only a batch where one fails runs again with them.
                if not _run_once(transactions, connection, batch, savepoints=False):
                    _run_once(transactions, connection, batch, savepoints=True)
                return
            except Exception as error:
                if run == _CONFLICT_RUNS - 1 or not transactions.conflict(error):
                    raise
    finally:
        metrics.database_batch(time.perf_counter() - started)


def _run_once(transactions: Transactions, connection: C, batch: list[Item[C]], *, savepoints: bool) -> bool:
    """One transaction for the batch. False, with nothing written, when a write failed and there were no savepoints.

    A read that raises needs no savepoint unless its statement failed the transaction
    (PostgreSQL then refuses the rest): that counts as a failed write, and the run
    with savepoints puts one around every item.
    """
    transactions.begin(any(item.writes for item in batch))
    try:
        for item in batch:
            if savepoints:
                transactions.savepoint()
            try:
                item.outcome = (True, item.work(connection))
            except Exception as error:
                if transactions.conflict(error) or transactions.transient(error):
                    raise  # the whole batch runs again (rolled back below)
                if not savepoints and (item.writes or transactions.failed()):
                    transactions.rollback()
                    return False
                if savepoints:
                    transactions.rollback_to_savepoint()
                item.outcome = (False, error)
            if savepoints:
                transactions.release_savepoint()
        transactions.commit()
    except BaseException:
        transactions.rollback()
        raise
    return True
