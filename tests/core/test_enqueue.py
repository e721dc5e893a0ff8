from __future__ import annotations

import pytest

from bot.domain.jobs import JOB_ID_ALPHABET, JobState
from bot.domain.tiers import Tier
from bot.jobs.refusal import Refusal
from bot.quotas.service import Member
from tests.core.conftest import CHANNEL, GUILD, CoreHarness, origin, request


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"prompt": "   "}, "prompt_empty"),
        ({"prompt": "x" * 1001}, "prompt_too_long"),
        ({"seconds": 3}, "seconds_not_allowed"),
        ({"aspect": "21:9"}, "aspect_not_allowed"),
        ({"seed": -1}, "seed_out_of_range"),
        ({"seed": 2**32}, "seed_out_of_range"),
        ({"model": "nope"}, "model_unknown"),
        ({"negative_prompt": "n" * 501}, "negative_too_long"),
        ({"audio": True}, "audio_not_switchable"),  # the scripted model makes no sound
    ],
)
async def test_bad_requests_are_refused_with_a_reason(
    harness: CoreHarness, fields: dict[str, object], code: str
) -> None:
    core = await harness.open(start=False)
    base = {"prompt": "harbour", "model": "scripted", "seconds": 2, "aspect": "16:9"}
    base.update(fields)
    from bot.domain.jobs import JobRequest

    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), JobRequest(**base), Member(1))  # type: ignore[arg-type]
    assert refused.value.code == code
    assert refused.value.message
    assert await core.reports.ledger_check() == []


async def test_enqueue_reserves_and_returns_position_and_eta(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    queued = await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))
    assert queued.job.state is JobState.QUEUED
    assert len(queued.job.id) == 8 and set(queued.job.id) <= set(JOB_ID_ALPHABET)
    assert queued.job.request.seed is not None
    assert queued.place is not None and queued.place.position == 1 and queued.place.eta_seconds > 0
    status = await core.quotas.status(GUILD, Member(1))
    assert (status.day_used, status.queued) == (4, 1)
    assert await core.reports.ledger_check() == []


async def test_daily_quota_refusal_says_what_is_left_and_when_it_resets(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10)
    for _ in range(2):
        await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    assert refused.value.code == "daily_quota"
    assert "4 s of your 20 s" in refused.value.message
    assert "resets in 12 h" in refused.value.message
    # After midnight UTC the day window is fresh.
    harness.clock.now = harness.clock.now.replace(day=26, hour=0, minute=1)
    await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))


async def test_max_queued_and_clip_length_come_from_the_tier(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=2, default_daily_seconds=1000)
    await core.jobs.enqueue(origin(1), request(), Member(1))
    await core.jobs.enqueue(origin(1), request(), Member(1))
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(), Member(1))
    assert refused.value.code == "queue_full"
    await core.guilds.set_tier(GUILD, Tier("short", 1000, 1000, 1, 5, 2))
    await core.guilds.set_user_tier(GUILD, 2, "short")
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(2), request(seconds=4), Member(2))
    assert refused.value.code == "clip_too_long"


async def test_roles_give_the_best_tier_and_overrides_win(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    await core.guilds.set_tier(GUILD, Tier("silver", 50, 500, 1, 5, 8))
    await core.guilds.set_tier(GUILD, Tier("gold", 100, 1000, 2, 5, 8, weight=2))
    await core.guilds.set_role_tier(GUILD, 111, "silver")
    await core.guilds.set_role_tier(GUILD, 222, "gold")
    both = Member(1, frozenset({111, 222}))
    assert (await core.quotas.status(GUILD, both)).tier.name == "gold"
    await core.guilds.set_user_tier(GUILD, 1, "silver")
    assert (await core.quotas.status(GUILD, both)).tier.name == "silver"
    assert (await core.quotas.status(GUILD, Member(3))).tier.name == "default"
    with pytest.raises(Refusal):
        await core.guilds.set_role_tier(GUILD, 333, "platinum")


async def test_guild_budget_caps_everyone_together(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    await core.guilds.set_budgets(GUILD, daily_budget_seconds=10)
    await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(2), request(seconds=4), Member(2))
    assert refused.value.code == "guild_budget"


async def test_relax_lane_takes_jobs_past_quota_at_lowest_priority(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10)
    await core.guilds.set_tier(GUILD, Tier("relaxed", 8, 100, 1, 10, 8, relax_allowed=True))
    await core.guilds.set_user_tier(GUILD, 1, "relaxed")
    first = await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    over = await core.jobs.enqueue(origin(1), request(seconds=8), Member(1))
    later = await core.jobs.enqueue(origin(2), request(seconds=2), Member(2))
    assert (first.job.lane, over.job.lane) == (0, 1)
    place = core.jobs.place(over.job)
    assert place is not None and place.position == 3  # behind a later normal-lane job
    assert core.jobs.place(later.job) is not None


async def test_admins_can_be_exempt(harness: CoreHarness) -> None:
    core = await harness.open(start=False, default_max_queued=10)
    await core.guilds.set_admins_exempt(GUILD, True)
    admin = Member(9, is_admin=True)
    for _ in range(4):
        await core.jobs.enqueue(origin(9), request(seconds=8), admin)


async def test_guild_rules_channels_models_and_blocklist(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    await core.guilds.set_allowed_channels(GUILD, [CHANNEL + 1])
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(), Member(1))
    assert refused.value.code == "channel_not_allowed"
    await core.guilds.set_allowed_channels(GUILD, None)
    await core.guilds.add_block(GUILD, "gore", is_regex=False)
    await core.guilds.add_block(GUILD, r"blood\w*", is_regex=True)
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request("so much GORE"), Member(1))
    assert refused.value.code == "prompt_blocked"
    with pytest.raises(Refusal):
        await core.jobs.enqueue(origin(1), request("a bloodbath"), Member(1))
    await core.jobs.enqueue(origin(1), request("gorgeous sunset"), Member(1))  # whole words only
    with pytest.raises(Refusal):
        await core.guilds.add_block(GUILD, "([", is_regex=True)
    with pytest.raises(Refusal):
        await core.guilds.set_enabled_models(GUILD, ["missing"])
    await core.guilds.set_enabled_models(GUILD, [])
    with pytest.raises(Refusal) as refused:
        await core.jobs.enqueue(origin(1), request(), Member(1))
    assert refused.value.code == "model_disabled"


async def test_a_job_canceled_while_waiting_does_not_push_back_its_owners_next_one(harness: CoreHarness) -> None:
    core = await harness.open(start=False)
    first = (await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))).job
    canceled = (await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))).job
    await core.jobs.cancel(canceled.id, Member(1), GUILD)
    after = (await core.jobs.enqueue(origin(1), request(seconds=4), Member(1))).job
    assert canceled.sched_tag > first.sched_tag
    assert after.sched_tag == canceled.sched_tag  # the share it never used is not charged again
