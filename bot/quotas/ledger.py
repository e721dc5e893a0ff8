"""The three ledger moves. Each runs inside the transaction that changes the job's state."""

from __future__ import annotations

from bot.jobs.domain import Job
from bot.store.transaction import Tx


async def reserve(tx: Tx, job: Job, now: float) -> None:
    await tx.add_ledger(job, "reserve", job.cost_seconds, 1, 0.0, now)


async def release(tx: Tx, job: Job, now: float) -> None:
    """Give back the whole reservation: the job failed, was canceled, or is being settled."""
    await tx.add_ledger(job, "release", -job.cost_seconds, -1, 0.0, now)


async def settle(tx: Tx, job: Job, actual_seconds: int, cost_per_second: float, now: float) -> None:
    """Replace the reservation with the footage actually delivered."""
    await release(tx, job, now)
    await tx.add_ledger(job, "charge", actual_seconds, 1, actual_seconds * cost_per_second, now)


def charged_seconds(job: Job, duration: float) -> int:
    """Charge what was delivered, never more than was reserved, never less than one second."""
    return min(job.cost_seconds, max(1, round(duration)))
