"""Plain records the store keeps and the services use, besides jobs and tiers."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BlockRule:
    pattern: str
    is_regex: bool


@dataclass(frozen=True, slots=True)
class GuildConfig:
    guild_id: int
    paused: bool = False
    daily_budget_seconds: int | None = None
    # The server's spending caps, in micro-units of the catalog's currency (bot.domain.money).
    daily_budget_micros: int | None = None
    monthly_budget_micros: int | None = None
    timezone: str = "UTC"
    admins_exempt: bool = False
    enabled_models: list[str] | None = None
    allowed_channels: list[int] | None = None
    blocklist: list[BlockRule] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Usage:
    seconds: int
    jobs: int
    cost_micros: int = 0


@dataclass(frozen=True, slots=True)
class UsageRow:
    user_id: int
    model: str
    seconds: int
    jobs: int
    cost_micros: int


@dataclass(frozen=True, slots=True)
class LedgerMismatch:
    job_id: str
    state: str
    expected_seconds: int
    ledger_seconds: int
    expected_micros: int
    ledger_micros: int


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: str  # reserve, release or charge
    seconds: int
    jobs: int
    cost_micros: int = 0


@dataclass(frozen=True, slots=True)
class JobLedger:
    """One job beside the sum of its ledger rows: what the ledger check compares."""

    job_id: str
    state: str
    cost_seconds: int
    ledger_seconds: int
    charged_seconds: int
    cost_micros: int
    ledger_micros: int
    charged_micros: int


@dataclass(frozen=True, slots=True)
class QueueShare:
    """A member's latest job that counts in the fair queue: its start tag, cost and weight."""

    tag: float
    cost_seconds: int
    weight: float
