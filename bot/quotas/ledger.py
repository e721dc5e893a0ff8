"""The three ledger moves. Each runs inside the transaction that changes the job's state.

Every row carries seconds and money (micro-units, `bot.domain.money`) side by side,
so the one invariant covers both: reserved + used = the sum of the ledger.
"""

from __future__ import annotations

from bot.domain.jobs import Job
from bot.domain.records import LedgerEntry, LedgerMismatch
from bot.store.transaction import Tx


def _reservation(job: Job) -> LedgerEntry:
    return LedgerEntry("reserve", job.cost_seconds, 1, job.cost_micros)


def _release(job: Job) -> LedgerEntry:
    return LedgerEntry("release", -job.cost_seconds, -1, -job.cost_micros)


def reserve(tx: Tx, job: Job, now: float) -> None:
    tx.add_ledger(job, [_reservation(job)], now)


def release(tx: Tx, job: Job, now: float) -> None:
    """Give back the whole reservation: the job failed or was canceled."""
    tx.add_ledger(job, [_release(job)], now)


def settle(tx: Tx, job: Job, actual_seconds: int, now: float) -> None:
    """Replace the reservation with the footage actually delivered, at the price it was reserved at."""
    charge = LedgerEntry("charge", actual_seconds, 1, charged_micros(job, actual_seconds))
    tx.add_ledger(job, [_release(job), charge], now)


def charged_seconds(job: Job, duration: float) -> int:
    """Charge what was delivered, never more than was reserved, never less than one second."""
    return min(job.cost_seconds, max(1, round(duration)))


def charged_micros(job: Job, actual_seconds: int) -> int:
    """The delivered seconds' share of the reserved cost: exact, since the reservation is seconds x price."""
    if job.cost_seconds == 0:
        return 0
    return job.cost_micros * actual_seconds // job.cost_seconds


def mismatches(tx: Tx) -> list[LedgerMismatch]:
    """Jobs whose ledger rows don't add up to what their state says they hold.

    Unfinished: the reservation (cost_seconds, cost_micros). Delivered: the charge.
    Failed or canceled: zero. Summed over all jobs this is "reserved + used = ledger",
    for seconds and for money alike.
    """
    found = []
    for job in tx.job_ledgers():
        if job.state in ("failed", "canceled"):
            expected = (0, 0)
        elif job.state == "delivered":
            expected = (job.charged_seconds, job.charged_micros)
        else:
            expected = (job.cost_seconds, job.cost_micros)
        if expected != (job.ledger_seconds, job.ledger_micros):
            found.append(LedgerMismatch(job.job_id, job.state, expected[0], job.ledger_seconds, expected[1],
                                        job.ledger_micros))  # fmt: skip
    return found
