"""A server's budget in money, through Discord: set with /footage budget, refused in plain words,
shown to admins in /quota and /footage usage. The gated model costs 0.50 USD a second."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from discord.ext import commands

from bot.domain.jobs import JobState
from bot.domain.records import UsageRow
from bot.quotas.service import Spending
from bot.reports import UsageReport
from cogs.admin import usage_text
from tests.discord.simworld import World, job_id_of


@pytest.fixture
def simcord_bot(gated_bot: commands.Bot) -> commands.Bot:
    return gated_bot


async def test_a_money_budget_is_set_refuses_with_whats_left_and_shows_to_admins(world: World) -> None:
    shown = await world.admin.slash(world.channel, "footage budget")
    assert shown.ephemeral and shown.response is not None
    assert shown.response.content == (
        "This server's budgets:\nSeconds a day: no cap\nMoney a day: no cap\nMoney a month: no cap"
    )
    saved = await world.admin.slash(world.channel, "footage budget", daily=2.5, monthly=20.0)
    assert saved.response is not None
    assert saved.response.content == (
        "Saved. This server's budgets:\nSeconds a day: no cap\nMoney a day: 2.50 USD\nMoney a month: 20.00 USD"
    )

    # 4 s reserved (2.00 USD); the clip is 2 s long, so 1.00 USD is charged.
    first = await world.alice.slash(world.channel, "generate", prompt="a quiet pier", seconds=4)
    assert first.response is not None and not first.ephemeral
    assert (await world.finished(job_id_of(first.response))).state is JobState.DELIVERED

    refused = await world.bob.slash(world.channel, "generate", prompt="a second pier", seconds=4)
    assert refused.ephemeral and refused.response is not None
    text = refused.response.content
    assert text.startswith("⛔")
    assert "daily spending budget: 1.50 USD of 2.50 USD left today" in text
    assert "the clip would cost about 2.00 USD" in text
    assert re.search(r"It resets in (\d+ h ?)?(\d+ min)?\.", text), text

    admin_quota = await world.admin.slash(world.channel, "quota")
    assert admin_quota.response is not None
    fields = {field.name: field.value or "" for field in admin_quota.response.embeds[0].fields}
    today, month = fields["Server spending"].splitlines()
    assert re.fullmatch(r"Today: 1\.00 USD spent, 1\.50 USD of 2\.50 USD left · resets <t:\d+:R>", today)
    assert re.fullmatch(r"This month: 1\.00 USD spent, 19\.00 USD of 20\.00 USD left · resets <t:\d+:R>", month)
    member_quota = await world.alice.slash(world.channel, "quota")
    assert member_quota.response is not None
    assert "Server spending" not in [field.name for field in member_quota.response.embeds[0].fields]

    usage = await world.admin.slash(world.channel, "footage usage")
    assert usage.response is not None
    report = usage.response.content
    assert "Today: 1.00 USD spent, 1.50 USD of 2.50 USD left" in report
    assert "2 s, estimated 1.00 USD" in report
    assert "alice · gated: 2 s in 1 jobs, 1.00 USD" in report

    tiny = await world.admin.slash(world.channel, "footage budget", daily=0.0000001)
    assert tiny.ephemeral and tiny.response is not None
    assert "must be at least 0.000001" in tiny.response.content
    cleared = await world.admin.slash(world.channel, "footage budget", daily=0.0)
    assert cleared.response is not None and "Money a day: no cap\nMoney a month: 20.00 USD" in cleared.response.content
    again = await world.bob.slash(world.channel, "generate", prompt="a second pier", seconds=4)
    assert again.response is not None and not again.ephemeral


def test_usage_is_in_the_catalogs_currency_and_says_which_models_have_no_price() -> None:
    resets = datetime(2026, 12, 1, tzinfo=UTC)
    report = UsageReport(
        since=datetime(2026, 11, 1, tzinfo=UTC),
        rows=[UsageRow(1, "gated", 4, 2, 2_000_000), UsageRow(2, "local", 10, 1, 0)],
        currency="EUR",
    )
    spending = Spending("EUR", None, 30_000_000, 250_000, 2_000_000, resets, resets)
    text = usage_text(report, {1: "alice", 2: "bob"}, spending, unpriced={"local"})
    assert text.splitlines() == [
        "Today: 0.25 EUR spent, no spending budget",
        f"This month: 2.00 EUR spent, 28.00 EUR of 30.00 EUR left · resets <t:{int(resets.timestamp())}:R>",
        "",
        "Since 2026-11-01: 14 s, estimated 2.00 EUR",
        "bob · local: 10 s in 1 jobs, no price set, counted as 0",
        "alice · gated: 4 s in 2 jobs, 2.00 EUR",
    ]
