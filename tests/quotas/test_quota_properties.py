"""Property tests of quotas: whatever members do, no one goes past a limit, and no one is refused wrongly.

tests/core/test_ledger_invariant.py checks that the ledger matches job states;
this checks what the ledger is for. Random sequences of enqueue, cancel, fail,
deliver and the clock moving on (across days and a month end, in the guild's
time zone) run through the real core, with tiers from the default, a role, a
per-user override with the relax lane, and an admin who may be exempt. After
every step, for every member:

* waiting jobs <= the tier's max_queued, running jobs <= its max_running;
* normal-lane footage in today's and this month's window <= the tier's daily and
  monthly seconds (the relax lane exists to take jobs past them, so it is left out;
  without relax all footage counts);
* normal-lane footage of non-exempt members today <= the guild's daily budget;
* the guild's money (every lane, every member: relax jobs and exempt admins cost
  money too) today and this month <= its daily and monthly spending budgets;
* and each enqueue gets exactly the answer the quota status shown before it
  implies: the right refusal code, the relax lane only when a limit is reached
  (for enqueues sent one at a time; bursts sent at once only have to stay within
  the limits).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.backends.base import BackendError, BackendErrorKind
from bot.clock import to_epoch
from bot.domain.jobs import Job, JobState
from bot.domain.tiers import Tier
from bot.jobs.events import JobEvent
from bot.jobs.refusal import Refusal
from bot.quotas.ledger import charged_micros
from bot.quotas.service import RELAX_LANE, Member, QuotaStatus, Spending
from bot.quotas.windows import Window, day_window, month_window
from tests.core.conftest import GUILD, CoreHarness, origin, request
from tests.core.conftest import small_clip as small_clip  # the fixture, shared with tests/core

GOLD_ROLE = 111
GUILD_MAX_RUNNING = 4
MODEL_CONCURRENCY = 2
CLIP_SECONDS = 2  # the scripted backend always returns small_clip, two seconds long
PRICE_MICROS = 500_000  # the harness's model costs 0.5 a second

MEMBERS = {
    1: Member(1),  # default tier
    2: Member(2, frozenset({GOLD_ROLE})),  # gold, through a role
    3: Member(3, frozenset({GOLD_ROLE})),  # override to relaxed beats the role
    4: Member(4, is_admin=True),  # default tier; exempt when the guild says so
}
GOLD = Tier("gold", 20, 28, 2, 4, 8, weight=2.0)
RELAXED = Tier("relaxed", 8, 14, 1, 4, 4, relax_allowed=True)


@dataclass
class Books:
    """What the test knows of each job: its lane, its latest state, and whether it was let go."""

    jobs: dict[str, Job] = field(default_factory=dict)
    let_go: set[str] = field(default_factory=set)

    def __call__(self, event: JobEvent) -> None:
        if event.kind == "state":
            self.jobs[event.job.id] = event.job

    def held(self, job: Job) -> int:
        """Footage the job holds in the ledger: its reservation, its charge once delivered, else nothing."""
        if job.state is JobState.DELIVERED:
            return min(job.cost_seconds, CLIP_SECONDS)
        return 0 if job.state.finished else job.cost_seconds

    def held_micros(self, job: Job) -> int:
        """The money the job holds: its reserved cost, the delivered seconds' cost, else nothing."""
        if job.state is JobState.DELIVERED:
            return charged_micros(job, min(job.cost_seconds, CLIP_SECONDS))
        return 0 if job.state.finished else job.cost_micros

    def spent(self, window: Window) -> int:
        start, end = to_epoch(window.start), to_epoch(window.end)
        return sum(self.held_micros(job) for job in self.jobs.values() if start <= to_epoch(job.created_at) < end)

    def normal_lane(self, window: Window, user: int | None = None, exempt: frozenset[int] = frozenset()) -> int:
        start, end = to_epoch(window.start), to_epoch(window.end)
        return sum(
            self.held(job)
            for job in self.jobs.values()
            if job.lane != RELAX_LANE
            and (user is None or job.user_id == user)
            and job.user_id not in exempt
            and start <= to_epoch(job.created_at) < end
        )

    def all_lanes(self, window: Window, user: int) -> int:
        start, end = to_epoch(window.start), to_epoch(window.end)
        return sum(
            self.held(job)
            for job in self.jobs.values()
            if job.user_id == user and start <= to_epoch(job.created_at) < end
        )


Step = tuple[str, int, list[int]]
steps = st.lists(
    st.one_of(
        # Several clips asked for in a row by one member, or all at once (double clicks, several tabs).
        st.tuples(
            st.sampled_from(["enqueue", "enqueue", "burst"]),
            st.sampled_from(sorted(MEMBERS)),
            st.lists(st.sampled_from([2, 4, 8]), min_size=1, max_size=4),
        ),
        st.tuples(st.sampled_from(["deliver", "fail", "cancel"]), st.integers(0, 40), st.just([])),
        st.tuples(st.sampled_from(["deliver", "fail", "cancel"]), st.integers(0, 40), st.just([])),
        st.tuples(st.just("clock"), st.sampled_from([1, 5, 11, 25, 6 * 24]), st.just([])),
    ),
    min_size=10,
    max_size=25,
)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(  # the month fills up over three days, then a new month starts
    actions=[
        ("enqueue", 1, [8]),
        ("clock", 25, []),
        ("enqueue", 1, [8]),
        ("clock", 25, []),
        ("enqueue", 1, [8, 2]),
        ("clock", 6 * 24, []),
        ("enqueue", 1, [8]),
    ],
    budget=None,
    exempt=False,
    timezone="UTC",
    spending=(None, None),
)
@example(  # the guild budget refuses one member, sends another to relax, and lets an exempt admin through
    actions=[("enqueue", 1, [8]), ("enqueue", 2, [4]), ("enqueue", 3, [2, 2]), ("enqueue", 4, [8]), ("deliver", 0, [])],
    budget=10,
    exempt=True,
    timezone="America/Los_Angeles",
    spending=(None, None),
)
@example(  # money runs out before seconds do, for the relax lane and an exempt admin too; a new day helps,
    # until the month's money is spent
    actions=[
        ("enqueue", 1, [8, 4]),
        ("enqueue", 3, [4, 4, 4]),
        ("enqueue", 4, [8]),
        ("deliver", 0, []),
        ("clock", 25, []),
        ("enqueue", 4, [8, 8]),
        ("enqueue", 2, [2]),
    ],
    budget=None,
    exempt=True,
    timezone="UTC",
    spending=(5_000_000, 8_000_000),
)
@given(
    actions=steps,
    budget=st.sampled_from([None, 10, 20, 30]),
    exempt=st.booleans(),
    timezone=st.sampled_from(["UTC", "Asia/Kolkata", "America/Los_Angeles"]),
    spending=st.tuples(st.sampled_from([None, 3_000_000, 7_000_000]), st.sampled_from([None, 9_000_000])),
)
async def test_no_member_ever_exceeds_a_limit(
    tmp_path_factory: pytest.TempPathFactory,
    small_clip: Path,
    fresh_store_url: Callable[[], str],
    actions: list[Step],
    budget: int | None,
    exempt: bool,
    timezone: str,
    spending: tuple[int | None, int | None],
) -> None:
    """After every step each member and the guild are within every limit, and every admission decision was right."""
    harness = CoreHarness(tmp_path_factory.mktemp("quotas"), small_clip)
    harness.backend.auto_release = False
    core = await harness.open(
        start=False,
        max_concurrency=MODEL_CONCURRENCY,
        guild_max_running=GUILD_MAX_RUNNING,
        default_daily_seconds=12,
        default_monthly_seconds=20,
        default_max_running=1,
        default_max_queued=3,
        database_url=SecretStr(fresh_store_url()),
    )
    books = Books()
    core.events.subscribe(books)
    try:
        for tier in (GOLD, RELAXED):
            await core.guilds.set_tier(GUILD, tier)
        await core.guilds.set_role_tier(GUILD, GOLD_ROLE, "gold")
        await core.guilds.set_user_tier(GUILD, 3, "relaxed")
        await core.guilds.set_budgets(
            GUILD, daily_budget_seconds=budget, daily_budget_micros=spending[0], monthly_budget_micros=spending[1]
        )
        await core.guilds.set_admins_exempt(GUILD, exempt)
        await core.guilds.set_timezone(GUILD, timezone)
        await core.start()
        exempt_users = frozenset({4}) if exempt else frozenset()
        for action, a, clips in actions:
            if action == "enqueue":
                for seconds in clips:
                    await _enqueue_and_judge(harness, books, a, seconds, budget, exempt_users)
            elif action == "burst":
                answers = await asyncio.gather(
                    *(core.jobs.enqueue(origin(a), request(seconds=seconds), MEMBERS[a]) for seconds in clips),
                    return_exceptions=True,
                )
                assert all(not isinstance(answer, BaseException) or isinstance(answer, Refusal) for answer in answers)
            elif action == "clock":
                harness.clock.now += timedelta(hours=a)
            elif books.jobs:
                job = list(books.jobs.values())[a % len(books.jobs)]
                if action == "cancel":
                    with contextlib.suppress(Refusal):
                        await core.jobs.cancel(job.id, Member(99, is_moderator=True), GUILD)
                elif not job.state.finished:
                    books.let_go.add(job.id)
                    script = harness.backend.script(job.id)
                    if action == "deliver":
                        script.release.set()
                    else:
                        script.poll_error = BackendError(BackendErrorKind.GENERATION_FAILED, "scripted")
            await _settle(harness, books)
            await _assert_within_limits(harness, books, budget, exempt_users, timezone)
        assert await core.reports.ledger_check() == []
    finally:
        await harness.close()


async def _enqueue_and_judge(
    harness: CoreHarness, books: Books, user: int, seconds: int, budget: int | None, exempt: frozenset[int]
) -> None:
    """Enqueue, and check the answer against the quota status the member would have seen just before."""
    assert harness.core is not None
    member = MEMBERS[user]
    before = await harness.core.quotas.status(GUILD, member)
    spent_before = await harness.core.quotas.spending(GUILD)
    expected = _expected_answer(before, spent_before, seconds, budget, user in exempt)
    try:
        queued = await harness.core.jobs.enqueue(origin(user), request(seconds=seconds), member)
    except Refusal as refusal:
        answer = refusal.code
    else:
        answer = "relax" if queued.job.lane == RELAX_LANE else "normal"
        assert (queued.job.max_running, queued.job.weight) == (before.tier.max_running, before.tier.weight)
    assert answer == expected, f"user {user}, {seconds} s: got {answer}, expected {expected} from {before}"


def _expected_answer(status: QuotaStatus, spending: Spending, seconds: int, budget: int | None, exempt: bool) -> str:
    """The refusal code, or the lane, that the status (and the spending an admin sees) implies."""
    tier = status.tier
    if seconds > tier.max_clip_seconds:
        return "clip_too_long"
    if status.queued >= tier.max_queued:
        return "queue_full"
    lane = "normal" if exempt else _expected_lane(status, seconds, budget)
    if lane not in ("normal", "relax"):
        return lane
    cost = seconds * PRICE_MICROS
    if spending.daily_budget is not None and spending.day_spent + cost > spending.daily_budget:
        return "daily_spending"
    if spending.monthly_budget is not None and spending.month_spent + cost > spending.monthly_budget:
        return "monthly_spending"
    return lane


def _expected_lane(status: QuotaStatus, seconds: int, budget: int | None) -> str:
    """What the seconds quotas and the seconds budget say: a lane, or a refusal code."""
    tier = status.tier
    over = None
    if status.day_used + seconds > tier.daily_seconds:
        over = "daily_quota"
    elif status.month_used + seconds > tier.monthly_seconds:
        over = "monthly_quota"
    elif budget is not None and status.guild_day_used + seconds > budget:
        over = "guild_budget"
    if over is None:
        return "normal"
    return "relax" if tier.relax_allowed else over


async def _assert_within_limits(
    harness: CoreHarness, books: Books, budget: int | None, exempt: frozenset[int], timezone: str
) -> None:
    assert harness.core is not None
    now = harness.clock.now
    day, month = day_window(now, timezone), month_window(now, timezone)
    for user, member in MEMBERS.items():
        status = await harness.core.quotas.status(GUILD, member)
        tier = status.tier
        # The test's own account of the ledger agrees with the bot's.
        assert (status.day_used, status.month_used) == (books.all_lanes(day, user), books.all_lanes(month, user))
        assert status.queued <= tier.max_queued, f"user {user}: {status.queued} waiting"
        assert status.running <= tier.max_running, f"user {user}: {status.running} running"
        if user in exempt:
            continue
        assert books.normal_lane(day, user) <= tier.daily_seconds, f"user {user} past the daily quota"
        assert books.normal_lane(month, user) <= tier.monthly_seconds, f"user {user} past the monthly quota"
        if not tier.relax_allowed:
            assert status.day_used <= tier.daily_seconds and status.month_used <= tier.monthly_seconds
    if budget is not None:
        assert books.normal_lane(day, exempt=exempt) <= budget, "the guild went past its daily budget"
    spending = await harness.core.quotas.spending(GUILD)
    assert (spending.day_spent, spending.month_spent) == (books.spent(day), books.spent(month))
    if spending.daily_budget is not None:
        assert spending.day_spent <= spending.daily_budget, "the guild went past its daily spending budget"
    if spending.monthly_budget is not None:
        assert spending.month_spent <= spending.monthly_budget, "the guild went past its monthly spending budget"


async def _settle(harness: CoreHarness, books: Books, timeout: float = 5.0) -> None:
    """Wait until nothing moves, so the status read next is the one the member would see.

    Moving: a job let go (released or set to fail) still active, a job between
    states, a finished job still held by the runner, or a waiting job that every
    running limit would let start.
    """
    assert harness.core is not None
    core = harness.core
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        active = [job for job in books.jobs.values() if job.state.active]
        moving = [job for job in active if job.state is not JobState.RUNNING or job.id in books.let_go]
        ready = [
            job
            for job in core.queue.in_order()
            if len(active) < min(MODEL_CONCURRENCY, GUILD_MAX_RUNNING)
            and sum(1 for other in active if other.user_id == job.user_id) < job.max_running
        ]
        if not moving and not ready and len(core.runner.running_jobs()) == len(active):
            return
        if loop.time() > deadline:
            raise AssertionError(f"the runner never settled: moving {moving}, ready {ready}")
        await asyncio.sleep(0.003)
