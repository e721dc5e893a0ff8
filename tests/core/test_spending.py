"""A server's budget in money: reserved at enqueue, charged for what was delivered, refused in plain words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.jobs import JobState
from bot.domain.tiers import Tier
from bot.jobs.refusal import Refusal
from bot.models import ModelCatalog, ModelSpec
from bot.quotas.service import Member
from tests.core.conftest import GUILD, CoreHarness, catalog, origin, request


async def test_a_job_reserves_its_estimated_cost_and_is_charged_for_the_seconds_delivered(
    harness: CoreHarness,
) -> None:
    core = await harness.open()
    harness.backend.auto_release = False
    queued = await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    assert queued.job.cost_micros == 4_000_000  # 8 s at 0.5 a second
    assert (await core.quotas.spending(GUILD)).day_spent == 4_000_000
    harness.backend.script(queued.job.id).release.set()
    await harness.until(queued.job.id, JobState.DELIVERED)
    spending = await core.quotas.spending(GUILD)
    assert (spending.day_spent, spending.month_spent) == (1_000_000, 1_000_000)  # the clip is 2 s long
    assert await core.reports.ledger_check() == []


async def test_a_canceled_job_gives_its_money_back(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))
    assert (await core.quotas.spending(GUILD)).day_spent == 2_000_000
    await core.jobs.cancel(queued.job.id, Member(1), GUILD)
    assert (await core.quotas.spending(GUILD)).day_spent == 0
    assert await core.reports.ledger_check() == []


async def test_the_daily_spending_refusal_says_what_is_left_and_when_it_resets(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    await core.guilds.set_budgets(GUILD, daily_budget_micros=5_000_000)
    await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))  # 4.00 reserved
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(2), request(seconds=4), Member(2))  # 2.00 more
    assert refused.value.code == "daily_spending"
    assert refused.value.message == (
        "This clip would pass this server's daily spending budget: 1.00 USD of 5.00 USD left today, and the "
        "clip would cost about 2.00 USD. It resets in 12 h. Try a shorter clip or a cheaper model, or ask an admin."
    )
    await core.jobs.enqueue(origin(2), request(seconds=2), Member(2))  # 1.00 fits exactly
    harness.clock.now += timedelta(hours=12)
    await core.jobs.enqueue(origin(2), request(seconds=8), Member(2))  # a new day


async def test_the_monthly_spending_budget_holds_across_days_and_resets_on_the_first(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10)
    await core.guilds.set_budgets(GUILD, monthly_budget_micros=6_000_000)
    await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    harness.clock.now += timedelta(days=1)
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    assert refused.value.code == "monthly_spending"
    assert "2.00 USD of 6.00 USD left this month" in refused.value.message
    assert "It resets in 4 d 12 h." in refused.value.message  # 2026-12-01 00:00 UTC, from 11-26 12:00
    harness.clock.now += timedelta(days=5)
    await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))


async def test_neither_the_relax_lane_nor_an_exempt_admin_passes_a_spending_budget(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10)
    await core.guilds.set_tier(GUILD, Tier("relaxed", 2, 100, 1, 10, 8, relax_allowed=True))
    await core.guilds.set_user_tier(GUILD, 1, "relaxed")
    await core.guilds.set_admins_exempt(GUILD, True)
    await core.guilds.set_budgets(GUILD, daily_budget_micros=6_000_000)
    relaxed = await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    assert relaxed.job.lane == 1  # past the seconds quota: the relax lane, still paid for
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(9), request(seconds=8), Member(9, is_admin=True))
    assert refused.value.code == "daily_spending"


async def test_a_model_without_a_price_is_refused_only_where_a_spending_budget_is_set(harness: CoreHarness) -> None:
    priced = catalog().default
    unpriced = priced.model_copy(update={"name": "unpriced", "cost_per_second": None})
    free = priced.model_copy(update={"name": "free", "cost_per_second": 0.0})
    core = await harness.open(start=False, default_max_queued=10, models=ModelCatalog([priced, unpriced, free]))
    await core.jobs.enqueue(origin(1), request(model="unpriced"), Member(1))  # counted at 0, no budget to pass
    await core.guilds.set_budgets(GUILD, daily_budget_micros=1_000_000)
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(model="unpriced"), Member(1))
    assert refused.value.code == "unpriced_model"
    assert "model unpriced has no price" in refused.value.message
    await core.jobs.enqueue(origin(1), request(seconds=2), Member(1))  # 1.00: the budget is spent
    for _ in range(2):  # a free model never passes a budget, even a spent one
        await core.jobs.enqueue(origin(2), request(model="free", seconds=8), Member(2))


async def test_budgets_are_set_together_and_refused_out_of_range(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    config = await core.guilds.set_budgets(GUILD, daily_budget_seconds=60, daily_budget_micros=2_500_000)
    assert (config.daily_budget_seconds, config.daily_budget_micros, config.monthly_budget_micros) == (
        60,
        2_500_000,
        None,
    )
    with pytest.raises(Refusal) as refused:
        await core.guilds.set_budgets(GUILD, monthly_budget_micros=-1)
    assert refused.value.code == "bad_budget"


def test_a_price_is_kept_in_exact_micro_units() -> None:
    spec = ModelSpec(name="kling", backend="kling", durations=(5, 10), aspects=("16:9",), cost_per_second=0.168)
    assert spec.price_micros(10) == 1_680_000  # 0.168 * 1e6 is 167999.99999999997 as a float
    assert spec.model_copy(update={"cost_per_second": None}).price_micros(10) is None
