"""The three ledger moves. Each runs inside the transaction that changes the job's state."""

from __future__ import annotations

from bot.domain.jobs import Job
from bot.domain.records import LedgerEntry, LedgerMismatch
from bot.store.transaction import Tx


def _reservation(job: Job) -> LedgerEntry:
    return LedgerEntry("reserve", job.cost_seconds, 1)


def _release(job: Job) -> LedgerEntry:
    return LedgerEntry("release", -job.cost_seconds, -1)


def reserve(tx: Tx, job: Job, now: float) -> None:
    tx.add_ledger(job, [_reservation(job)], now)


def release(tx: Tx, job: Job, now: float) -> None:
    """Give back the whole reservation: the job failed or was canceled."""
    tx.add_ledger(job, [_release(job)], now)


def settle(tx: Tx, job: Job, actual_seconds: int, cost_per_second: float, now: float) -> None:
    """Replace the reservation with the footage actually delivered."""
    charge = LedgerEntry("charge", actual_seconds, 1, actual_seconds * cost_per_second)
    tx.add_ledger(job, [_release(job), charge], now)


def charged_seconds(job: Job, duration: float) -> int:
    """Charge what was delivered, never more than was reserved, never less than one second."""
    return min(job.cost_seconds, max(1, round(duration)))


def mismatches(tx: Tx) -> list[LedgerMismatch]:
    """Jobs whose ledger rows don't add up to what their state says they hold.

    Unfinished: the reservation (cost_seconds). Delivered: the charge. Failed or
    canceled: zero. Summed over all jobs this is "reserved + used = ledger".
    """
    found = []
    for job in tx.job_ledgers():
        if job.state in ("failed", "canceled"):
            expected = 0
        elif job.state == "delivered":
            expected = job.charged_seconds
        else:
            expected = job.cost_seconds
        if expected != job.ledger_seconds:
            found.append(LedgerMismatch(job.job_id, job.state, expected, job.ledger_seconds))
    return found
