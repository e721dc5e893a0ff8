"""Usage reports for the admin who pays the bill: seconds and estimated cost per user and model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock, to_epoch
from bot.domain.money import format_money
from bot.domain.records import LedgerMismatch, UsageRow
from bot.quotas import ledger
from bot.store.store import Store


@dataclass(frozen=True, slots=True)
class UsageReport:
    since: datetime
    rows: list[UsageRow]
    currency: str  # of every row's cost

    @property
    def total_seconds(self) -> int:
        return sum(row.seconds for row in self.rows)

    @property
    def total_micros(self) -> int:
        return sum(row.cost_micros for row in self.rows)

    def money(self, micros: int) -> str:
        return format_money(micros, self.currency)


class ReportService:
    def __init__(self, store: Store, clock: Clock, currency: str) -> None:
        self._store = store
        self._clock = clock
        self._currency = currency

    async def usage(self, guild_id: int, days: int = 30) -> UsageReport:
        since = self._clock() - timedelta(days=days)
        rows = await self._store.read(lambda tx: tx.usage_rows(guild_id, to_epoch(since)))
        return UsageReport(since=since, rows=rows, currency=self._currency)

    async def ledger_check(self) -> list[LedgerMismatch]:
        """Jobs whose ledger rows disagree with their state; empty when reserved + used = ledger."""
        return await self._store.read(ledger.mismatches)
