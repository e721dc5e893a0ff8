"""Quota decisions: which tier applies, what is used and left, and whether a job may be queued.

Usage comes from the ledger: reservations of waiting and running jobs plus the
charges of delivered ones, counted in the day and month the job was asked for.
Money is counted the same way, per server: a job reserves its estimated cost
beside its seconds, in the same day and month windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock, to_epoch
from bot.domain.jobs import ACTIVE_STATES
from bot.domain.money import format_money
from bot.domain.records import GuildConfig
from bot.domain.tiers import Tier
from bot.jobs.refusal import Refusal
from bot.quotas.tiers import pick_tier
from bot.quotas.windows import Window, day_window, month_window
from bot.store.store import Store
from bot.store.transaction import Tx

NORMAL_LANE = 0
RELAX_LANE = 1


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    role_ids: frozenset[int] = frozenset()
    is_admin: bool = False  # may manage the bot in this guild (Manage Server)
    is_moderator: bool = False  # may act on other people's jobs and clips (Manage Messages)

    @property
    def may_moderate(self) -> bool:
        return self.is_admin or self.is_moderator


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    tier: Tier
    day_used: int
    month_used: int
    day_resets_at: datetime
    month_resets_at: datetime
    running: int
    queued: int
    exempt: bool
    guild_budget: int | None
    guild_day_used: int

    @property
    def day_left(self) -> int:
        return max(self.tier.daily_seconds - self.day_used, 0)

    @property
    def month_left(self) -> int:
        return max(self.tier.monthly_seconds - self.month_used, 0)


@dataclass(frozen=True, slots=True)
class Cost:
    """What a job would take: its seconds, and its estimated cost (None: the model has no price)."""

    seconds: int
    micros: int | None
    model: str


@dataclass(frozen=True, slots=True)
class Spending:
    """A server's money spent (reserved or charged) today and this month, beside its budgets."""

    currency: str
    daily_budget: int | None
    monthly_budget: int | None
    day_spent: int
    month_spent: int
    day_resets_at: datetime
    month_resets_at: datetime


def describe_wait(until: datetime, now: datetime) -> str:
    minutes = max(int((until - now).total_seconds() // 60), 1)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return "in " + " ".join(part for part in parts if part)


class QuotaService:
    def __init__(self, store: Store, default: Tier, clock: Clock, currency: str) -> None:
        self._store = store
        self._default = default
        self._clock = clock
        self._currency = currency

    def tier_for(self, tx: Tx, guild_id: int, member: Member) -> Tier:
        tiers = tx.tiers(guild_id)
        role_map = tx.role_tiers(guild_id)
        return pick_tier(
            tiers,
            self._default,
            override=tx.user_tier(guild_id, member.user_id),
            role_tiers=[role_map[role] for role in member.role_ids if role in role_map],
        )

    def admit(self, tx: Tx, config: GuildConfig, member: Member, tier: Tier, job_cost: Cost, now: datetime) -> int:
        """The lane a job of `job_cost` may wait in, or a Refusal saying which limit and when it resets.

        The seconds limits may send a job to the relax lane (or let an exempt admin
        past); the money budgets never do: every job costs the server what it costs.
        """
        guild_wide = config.daily_budget_seconds is not None or _has_money_budget(config)
        tx.lock_admission(config.guild_id, member.user_id, whole_guild=guild_wide)
        queued = tx.count_queued_jobs(config.guild_id, member.user_id)
        if queued >= tier.max_queued:
            raise Refusal(
                "queue_full",
                f"You already have {queued} job(s) waiting, the most your tier ({tier.name}) allows. "
                "Wait for one to start, or cancel one with /cancel.",
            )
        day, month = day_window(now, config.timezone), month_window(now, config.timezone)
        lane = NORMAL_LANE
        if not (member.is_admin and config.admins_exempt):
            lane = self._seconds_lane(tx, config, member, tier, job_cost.seconds, day, month, now)
        spending = self._spending_refusal(tx, config, job_cost, day, month, now)
        if spending is not None:
            raise spending
        return lane

    def _seconds_lane(
        self,
        tx: Tx,
        config: GuildConfig,
        member: Member,
        tier: Tier,
        cost: int,
        day: Window,
        month: Window,
        now: datetime,
    ) -> int:
        """The lane the seconds quotas and the seconds budget allow, or their Refusal."""
        day_usage, month_usage = tx.user_usage(config.guild_id, member.user_id, _span(day), _span(month))
        day_used, month_used = day_usage.seconds, month_usage.seconds
        refusal: Refusal | None = None
        if day_used + cost > tier.daily_seconds:
            refusal = _over(
                "daily_quota", "today", tier.daily_seconds - day_used, tier.daily_seconds, cost, day, now, tier
            )
        elif month_used + cost > tier.monthly_seconds:
            refusal = _over(
                "monthly_quota", "this month", tier.monthly_seconds - month_used, tier.monthly_seconds, cost,
                month, now, tier,
            )  # fmt: skip
        elif config.daily_budget_seconds is not None:
            guild_used = (tx.guild_usage(config.guild_id, *_span(day))).seconds
            if guild_used + cost > config.daily_budget_seconds:
                left = max(config.daily_budget_seconds - guild_used, 0)
                refusal = Refusal(
                    "guild_budget",
                    f"This server's shared daily budget is used up ({left} s of {config.daily_budget_seconds} s "
                    f"left; this clip needs {cost} s). It resets {describe_wait(day.end, now)}.",
                )
        if refusal is None:
            return NORMAL_LANE
        if tier.relax_allowed:
            return RELAX_LANE
        raise refusal

    def _spending_refusal(
        self, tx: Tx, config: GuildConfig, job_cost: Cost, day: Window, month: Window, now: datetime
    ) -> Refusal | None:
        """Why the server's money budgets refuse the job, or None."""
        if not _has_money_budget(config):
            return None
        if job_cost.micros is None:
            return Refusal(
                "unpriced_model",
                f"This server has a spending budget, and model {job_cost.model} has no price, so its cost can't "
                "be counted against it. Choose another model, or ask an admin to give it a cost_per_second in "
                "footage.toml.",
            )
        if job_cost.micros == 0:
            return None  # a free model never passes a budget
        budgets = (("daily", "today", config.daily_budget_micros, day), ("monthly", "this month",
                   config.monthly_budget_micros, month))  # fmt: skip
        for period, within, budget, window in budgets:
            if budget is None:
                continue
            spent = tx.guild_usage(config.guild_id, *_span(window)).cost_micros
            if spent + job_cost.micros > budget:
                left = max(budget - spent, 0)
                return Refusal(
                    f"{period}_spending",
                    f"This clip would pass this server's {period} spending budget: {self._money(left)} of "
                    f"{self._money(budget)} left {within}, and the clip would cost about "
                    f"{self._money(job_cost.micros)}. It resets {describe_wait(window.end, now)}. "
                    "Try a shorter clip or a cheaper model, or ask an admin.",
                )
        return None

    def _money(self, micros: int) -> str:
        return format_money(micros, self._currency)

    async def status(self, guild_id: int, member: Member) -> QuotaStatus:
        now = self._clock()

        def look(tx: Tx) -> QuotaStatus:
            config = tx.guild_config(guild_id)
            day, month = day_window(now, config.timezone), month_window(now, config.timezone)
            day_used, month_used = tx.user_usage(guild_id, member.user_id, _span(day), _span(month))
            return QuotaStatus(
                tier=self.tier_for(tx, guild_id, member),
                day_used=day_used.seconds,
                month_used=month_used.seconds,
                day_resets_at=day.end,
                month_resets_at=month.end,
                running=tx.count_user_jobs(guild_id, member.user_id, ACTIVE_STATES),
                queued=tx.count_queued_jobs(guild_id, member.user_id),
                exempt=member.is_admin and config.admins_exempt,
                guild_budget=config.daily_budget_seconds,
                guild_day_used=tx.guild_usage(guild_id, *_span(day)).seconds,
            )

        return await self._store.read(look)

    async def spending(self, guild_id: int) -> Spending:
        """The server's money spent today and this month, and its budgets (for admins)."""
        now = self._clock()

        def look(tx: Tx) -> Spending:
            config = tx.guild_config(guild_id)
            day, month = day_window(now, config.timezone), month_window(now, config.timezone)
            return Spending(
                currency=self._currency,
                daily_budget=config.daily_budget_micros,
                monthly_budget=config.monthly_budget_micros,
                day_spent=tx.guild_usage(guild_id, *_span(day)).cost_micros,
                month_spent=tx.guild_usage(guild_id, *_span(month)).cost_micros,
                day_resets_at=day.end,
                month_resets_at=month.end,
            )

        return await self._store.read(look)


def _has_money_budget(config: GuildConfig) -> bool:
    return config.daily_budget_micros is not None or config.monthly_budget_micros is not None


def _span(window: Window) -> tuple[float, float]:
    return to_epoch(window.start), to_epoch(window.end)


def _over(
    code: str, period: str, left: int, limit: int, cost: int, window: Window, now: datetime, tier: Tier
) -> Refusal:
    left = max(left, 0)
    return Refusal(
        code,
        f"Not enough footage left {period}: {left} s of your {limit} s (tier {tier.name}); this clip needs "
        f"{cost} s. It resets {describe_wait(window.end, now)}. Try a shorter clip, or ask an admin.",
    )
