"""Property tests of the scheduler: FIFO per user, bounded waiting, weighted shares, limits, positions.

The FairQueue properties run against the queue alone (pure, fast, many examples)
driven the way JobService and the runner drive it: `start_tag` from virtual time and
the user's latest finish (which the store reads back) + `add` on enqueue,
the head of `in_order()` then `dispatched` on each pick. The bounds come from
start-time fair queueing (Goyal et al., 1996) as this queue implements it:

* every waiting normal-lane job has a tag >= the virtual time V (V only moves up
  to the tag of a job that is picked, and the head is always the smallest tag);
* a user's tags are contiguous while the user stays backlogged, each job
  advancing the user's finish tag by cost / weight.

The runner properties go through the real core (store, service, runner) with a
backend the test finishes by hand, and check every start against the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.backends.base import BackendError, BackendErrorKind
from bot.core import Core
from bot.domain.jobs import Job, JobRequest, JobState, Origin, WaitingJob
from bot.domain.tiers import Tier
from bot.jobs.events import JobEvent
from bot.jobs.refusal import Refusal
from bot.jobs.scheduler import HELD_PLACES, FairQueue, QueueEntry, finish_tag, start_tag
from bot.models import ModelCatalog, ModelSpec
from bot.quotas.service import Member
from tests.core.conftest import FakeClock, origin, request, settings_for
from tests.core.scripted import RecordingDeliverer, ScriptedBackend

GUILD = 10
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
COSTS = (2, 4, 8)
# Tier weights the guild commands accept range from 0.1 to 100.
WEIGHTS = (0.1, 0.5, 1.0, 2.0, 3.0, 10.0)
EPSILON = 1e-9

PURE = settings(max_examples=300, deadline=None, derandomize=True)


# The fair queue alone


class Sim:
    """A FairQueue fed and drained the way JobService and the runner do it."""

    def __init__(self, weights: dict[int, float]) -> None:
        self.queue = FairQueue()
        self.weights = weights
        self.enqueued: list[Job] = []  # arrival order, what the store's rowid order gives back
        self.canceled: set[str] = set()  # canceled while waiting

    def enqueue(self, user: int, cost: int, lane: int = 0) -> Job:
        weight = self.weights[user]
        latest = next(
            (job for job in reversed(self.enqueued) if job.user_id == user and job.id not in self.canceled), None
        )
        previous = None if latest is None else finish_tag(latest.sched_tag, latest.cost_seconds, latest.weight)
        tag = start_tag(self.queue.virtual_time, previous)
        job = Job(
            id=f"J{len(self.enqueued):05d}",
            origin=Origin(GUILD, 20, user, 0),
            request=JobRequest("p", "scripted", cost, "16:9"),
            state=JobState.QUEUED,
            created_at=NOW,
            updated_at=NOW,
            lane=lane,
            sched_tag=tag,
            weight=weight,
            cost_seconds=cost,
        )
        self.queue.add(job)
        self.enqueued.append(job)
        return job

    def pick(self) -> Job:
        entry = next(self.queue.in_order())
        self.queue.dispatched(entry)
        return self.job(entry)

    def job(self, entry: QueueEntry) -> Job:
        return next(job for job in self.enqueued if job.id == entry.id)

    def cancel(self, job_id: str) -> None:
        if self.queue.remove(job_id) is not None:  # canceled while waiting: its share is not counted
            self.canceled.add(job_id)

    def restart(self) -> None:
        """What Runner.recover does: a fresh queue, the stored queued jobs added in rowid order
        (only the columns the queue keeps), then virtual time restored from the highest tag of
        the normal-lane jobs that left the queue."""
        fresh = FairQueue()
        for seq, job in enumerate(self.enqueued, start=1):
            if job.id in self.queue:
                fresh.add_waiting(
                    WaitingJob(seq, job.id, job.guild_id, job.user_id, job.lane, job.sched_tag, job.model,
                               job.backend, job.max_running)
                )  # fmt: skip
        left = [job.sched_tag for job in self.enqueued if job.lane == 0 and job.id not in self.queue]
        fresh.restore_virtual_time(max(left, default=None))
        self.queue = fresh

    def apply(self, op: str, a: int, b: int, c: int) -> Job | None:
        """One step of a generated run; the job it started, if it started one."""
        if op == "add":
            self.enqueue(a, b, lane=c)
        elif op == "cancel" and self.enqueued:
            self.cancel(self.enqueued[a % len(self.enqueued)].id)
        elif op == "restart":
            self.restart()
        elif op == "pick" and len(self.queue):
            return self.pick()
        return None

    def waiting(self) -> list[Job]:
        return [self.job(entry) for entry in self.queue.in_order()]


users = st.integers(0, 3)
user_weights = st.lists(st.sampled_from(WEIGHTS), min_size=4, max_size=4).map(lambda ws: dict(enumerate(ws)))

queue_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), users, st.sampled_from(COSTS), st.sampled_from([0, 0, 0, 1])),
        st.tuples(st.just("pick"), st.just(0), st.just(0), st.just(0)),
        st.tuples(st.just("cancel"), st.integers(0, 40), st.just(0), st.just(0)),
        st.tuples(st.just("restart"), st.just(0), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@PURE
@given(weights=user_weights, ops=queue_ops)
def test_each_user_is_served_in_enqueue_order_and_relax_waits_for_normal(
    weights: dict[int, float], ops: list[tuple[str, int, int, int]]
) -> None:
    """FIFO within a user and lane, relax lane only when no normal job waits, order kept over a restart.

    A user's later job must never overtake their earlier one: people queue
    variations in the order they want them.
    """
    sim = Sim(weights)
    for op in ops:
        waiting = sim.waiting()
        job = sim.apply(*op)
        if op[0] == "restart":
            assert sim.waiting() == waiting
        if job is not None:
            same = [other for other in waiting if other.user_id == job.user_id and other.lane == job.lane]
            assert job.id == min(same, key=sim.enqueued.index).id, "a later job of the same user went first"
            if job.lane == 1:
                assert all(other.lane == 1 for other in waiting), "relax job started while a normal one waited"
    _assert_positions_are_the_drain_order(sim)


@PURE
@given(weights=user_weights, ops=queue_ops, blocked=st.sets(users))
def test_a_walk_passes_over_a_blocked_user_in_one_step(
    weights: dict[int, float], ops: list[tuple[str, int, int, int]], blocked: set[int]
) -> None:
    """The merged walk is the queue order minus the blocked users, asking once per user.

    This is what keeps a dispatch pass cheap when a paused server or a member at their
    running limit has thousands of jobs waiting.
    """
    sim = Sim(weights)
    for op in ops:
        sim.apply(*op)
    asked: list[int] = []

    def user_blocked(job: QueueEntry) -> bool:
        asked.append(job.user_id)
        return job.user_id in blocked

    walked = [job.id for job in sim.queue.in_order(user_blocked)]
    in_queue_order = sorted(sim.waiting(), key=lambda job: sim.queue.position(job.id) or 0)
    assert walked == [job.id for job in in_queue_order if job.user_id not in blocked]
    assert all(asked.count(user) == 1 for user in blocked & set(asked))


def test_the_queue_keeps_whole_jobs_only_at_its_front() -> None:
    """Behind the front a waiting job is a small entry; the front's jobs are kept whole for their status messages."""
    sim = Sim(dict.fromkeys(range(4), 1.0))
    relax = [sim.enqueue(n % 4, 2, lane=1) for n in range(3 * HELD_PLACES)]
    normal = [sim.enqueue(n % 4, 2) for n in range(HELD_PLACES)]  # each lands ahead of every relax job
    order = sim.queue.first(len(sim.queue))
    assert [sim.queue.held(entry.id) for entry in order[:HELD_PLACES]] == [
        sim.job(entry) for entry in order[:HELD_PLACES]
    ]
    assert {entry.id for entry in order[:HELD_PLACES]} == {job.id for job in normal}
    assert all(sim.queue.held(entry.id) is None for entry in order[HELD_PLACES:])
    for _ in normal:
        sim.pick()
    assert sim.queue.held(relax[0].id) is None  # moved up to the front: read back when needed, then kept
    sim.queue.hold(relax[0])
    sim.queue.hold(relax[-1])
    assert (sim.queue.held(relax[0].id), sim.queue.held(relax[-1].id)) == (relax[0], None)


def _assert_positions_are_the_drain_order(sim: Sim) -> None:
    """The position each waiting job is told is exactly when it then starts, if no one else arrives."""
    told = {job.id: sim.queue.position(job.id) for job in sim.enqueued if job.id in sim.queue}
    started = [sim.pick().id for _ in range(len(sim.queue))]
    assert [told[job_id] for job_id in started] == list(range(1, len(started) + 1))


arrivals = st.lists(
    # (user, cost, how many at once); None: the runner picks one job.
    st.one_of(st.tuples(users, st.sampled_from(COSTS), st.integers(1, 6)), st.just(None), st.just(None)),
    max_size=60,
)


@dataclass
class Waiter:
    """What is known about a job when it arrives, to bound how long it may wait."""

    job: Job
    slack: float  # bound on (its tag - virtual time) at arrival, from its owner's own work only
    ahead_own: int  # the owner's jobs already waiting
    served_since: Counter[int] = field(default_factory=Counter)


def _unroll(steps: list[tuple[int, int, int] | None]) -> list[tuple[int, int] | None]:
    return [(step[0], step[1]) if step else None for step in steps for _ in range(step[2] if step else 1)]


def _check_no_starvation(weights: dict[int, float], steps: list[tuple[int, int, int] | None], restart_at: int) -> None:
    """Shared body of the bounded-wait properties; `restart_at` < 0 means no restart."""
    sim = Sim(weights)
    last_cost: dict[int, int] = {}
    waiters: dict[str, Waiter] = {}
    unrolled = _unroll(steps)
    for index, step in enumerate([*unrolled, *[None] * len(unrolled)]):
        if index == restart_at:
            sim.restart()
        if step is not None:
            user, cost = step
            mine = [waiter.job.cost_seconds for waiter in waiters.values() if waiter.job.user_id == user]
            # The tag is at most V + (cost of the user's last started job + costs still waiting) / weight.
            slack = (last_cost.get(user, 0) + sum(mine)) / weights[user]
            job = sim.enqueue(user, cost)
            waiters[job.id] = Waiter(job, slack, len(mine))
        elif len(sim.queue):
            picked = sim.pick()
            last_cost[picked.user_id] = picked.cost_seconds
            done = waiters.pop(picked.id)
            assert done.served_since[picked.user_id] == done.ahead_own, "own jobs served out of order"
            for other, served in done.served_since.items():
                if other == picked.user_id:
                    continue
                # The other user's tags in [V, tag] are >= cost / weight apart.
                bound = math.floor(done.slack * weights[other] / min(COSTS) + EPSILON) + 1
                assert served <= bound, (
                    f"user {picked.user_id} (weight {weights[picked.user_id]}) waited behind {served} jobs "
                    f"of user {other} (weight {weights[other]}); start-time fair queueing allows {bound}"
                )
            for waiter in waiters.values():
                waiter.served_since[picked.user_id] += 1
    assert not waiters


@PURE
@given(weights=user_weights, steps=arrivals)
def test_no_waiting_user_is_starved(weights: dict[int, float], steps: list[tuple[int, int, int] | None]) -> None:
    """Every job starts within a bound fixed when it arrives, however others keep arriving.

    Bound: while job J of user u waits, another user v starts at most
    floor(slack_J * w_v / c_min) + 1 jobs, slack_J = (cost of u's last started job
    + costs of u's jobs already waiting) / w_u. A newcomer with nothing waiting thus
    waits for at most sum over v of (c_max * w_v / (c_min * w_u) + 1) picks, however
    long the others' backlogs are.
    """
    _check_no_starvation(weights, steps, restart_at=-1)


@settings(max_examples=200, deadline=None, derandomize=True)
@example(  # 18 jobs of user 0, 15 start, user 1 waits; after the restart user 2 queues 10 and all go first.
    weights=dict.fromkeys(range(4), 1.0),
    before=[(0, 4, 6), (0, 4, 6), (0, 4, 6), *[None] * 15, (1, 4, 1)],
    busy=[(2, 4, 6), (2, 4, 4)],
    after=[],
)
@given(
    weights=user_weights,
    before=arrivals,
    busy=st.lists(st.tuples(users, st.sampled_from(COSTS), st.integers(1, 6)), max_size=4),
    after=arrivals,
)
def test_no_waiting_user_is_starved_across_a_restart(
    weights: dict[int, float],
    before: list[tuple[int, int, int] | None],
    busy: list[tuple[int, int, int] | None],
    after: list[tuple[int, int, int] | None],
) -> None:
    """The same bound holds when the bot restarts while jobs wait: tags are stored, virtual time restored.

    `busy`: jobs that arrive after the restart before the next start, as when the
    recovered running jobs still hold every slot. Were virtual time to restart at 0,
    they would get tags from 0 and all go ahead of the jobs that waited through it.
    """
    _check_no_starvation(weights, [*before, *busy, *after], restart_at=len(_unroll(before)))


@PURE
@given(
    weights=st.lists(st.sampled_from(WEIGHTS), min_size=2, max_size=5),
    costs=st.lists(st.lists(st.sampled_from(COSTS), min_size=1, max_size=4), min_size=5, max_size=5),
    joins=st.lists(st.integers(0, 100), min_size=5, max_size=5),
    depth=st.integers(1, 3),
    picks=st.integers(50, 300),
)
def test_backlogged_users_share_footage_by_weight(
    weights: list[float], costs: list[list[int]], joins: list[int], depth: int, picks: int
) -> None:
    """While users stay backlogged, footage-seconds served per unit of weight stay level.

    For any two users u and v backlogged since step s, at every pick
    |W_u/w_u - W_v/w_v| <= c_max_u/w_u + c_max_v/w_v, with W the seconds served
    since s; when both were there from the start, <= max(c_max_u/w_u, c_max_v/w_v).
    The gap does not grow with the run, so over n picks the shares match the
    weights to within O(1/n).
    """
    count = len(weights)
    sim = Sim(dict(enumerate(weights)))
    joins = [0, 0, *joins[2:count]]
    next_cost = dict.fromkeys(range(count), 0)
    served = dict.fromkeys(range(count), 0)
    at_join: dict[int, dict[int, int]] = {}

    def refill(user: int) -> None:
        cycle = costs[user]
        sim.enqueue(user, cycle[next_cost[user] % len(cycle)])
        next_cost[user] += 1

    for step in range(picks):
        for user in range(count):
            if joins[user] == step:
                at_join[user] = dict(served)
                for _ in range(depth):
                    refill(user)
        job = sim.pick()
        served[job.user_id] += job.cost_seconds
        refill(job.user_id)
        for u in at_join:
            for v in at_join:
                if u >= v:
                    continue
                since = at_join[u] if joins[u] >= joins[v] else at_join[v]
                gap = abs((served[u] - since[u]) / weights[u] - (served[v] - since[v]) / weights[v])
                c_u, c_v = max(costs[u]) / weights[u], max(costs[v]) / weights[v]
                bound = max(c_u, c_v) if joins[u] == joins[v] == 0 else c_u + c_v
                assert gap <= bound + EPSILON, f"users {u} and {v} drifted {gap:.2f} apart (bound {bound:.2f})"


# Through the runner


@dataclass
class Oracle:
    """Counts what runs from the state events alone, and checks every start against the limits."""

    catalog: ModelCatalog
    guild_limit: int
    paused: set[int] = field(default_factory=set)
    states: dict[str, Job] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def active(self) -> list[Job]:
        return [job for job in self.states.values() if job.state.active]

    def __call__(self, event: JobEvent) -> None:
        if event.kind != "state":
            return
        job = event.job
        self.states[job.id] = job
        if job.state is not JobState.SUBMITTING:
            return
        self.started.append(job.id)
        active = self.active()
        spec = self.catalog.get(job.request.model)
        assert spec is not None
        checks = [
            (sum(1 for o in active if _owner(o) == _owner(job)), job.max_running, "user"),
            (sum(1 for o in active if o.guild_id == job.guild_id), self.guild_limit, "guild"),
            (sum(1 for o in active if o.request.model == spec.name), spec.max_concurrency, "model"),
            (sum(1 for o in active if o.backend == spec.backend), self.catalog.backend_limit(spec.backend), "backend"),
        ]
        for running, limit, what in checks:
            if running > limit:
                self.violations.append(f"{job.id}: {running} running per {what}, limit {limit}")
        if job.guild_id in self.paused:
            self.violations.append(f"{job.id} started in paused guild {job.guild_id}")

    def eligible(self, queued: Iterator[QueueEntry]) -> list[QueueEntry]:
        """Waiting jobs no limit holds back: the runner must not sit idle while one exists."""
        active = self.active()
        out = []
        for job in queued:
            spec = self.catalog.get(job.model)
            assert spec is not None
            if (
                job.guild_id not in self.paused
                and sum(1 for o in active if _owner(o) == _owner(job)) < job.max_running
                and sum(1 for o in active if o.guild_id == job.guild_id) < self.guild_limit
                and sum(1 for o in active if o.request.model == spec.name) < spec.max_concurrency
                and sum(1 for o in active if o.backend == spec.backend) < self.catalog.backend_limit(spec.backend)
            ):
                out.append(job)
        return out


def _owner(job: Job | QueueEntry) -> tuple[int, int]:
    return (job.guild_id, job.user_id)


GUILDS = (10, 11)
MODELS = ("alpha", "beta", "gamma")


def limits_catalog(alpha: int = 2, beta: int = 2, gamma: int = 1, shared_limit: int = 3) -> ModelCatalog:
    """Two models sharing one account (capped below their sum) and one on another backend."""

    def spec(name: str, backend: str, concurrency: int) -> ModelSpec:
        return ModelSpec(
            name=name,
            backend=backend,
            durations=COSTS,
            aspects=("16:9",),
            max_concurrency=concurrency,
        )

    return ModelCatalog(
        [spec("alpha", "scripted", alpha), spec("beta", "scripted", beta), spec("gamma", "scripted_b", gamma)],
        backend_limits={"scripted": shared_limit},
    )


class Driven:
    """A real core whose backend finishes or fails a job only when the test says so."""

    def __init__(self, core: Core, backend: ScriptedBackend, oracle: Oracle) -> None:
        self.core = core
        self.backend = backend
        self.oracle = oracle
        self.jobs: list[Job] = []
        self.let_go: set[str] = set()  # released or set to fail: will finish on their own

    @classmethod
    async def open(cls, tmp_path: Path, clip: Path, models: ModelCatalog, guild_limit: int) -> Driven:
        backend = ScriptedBackend(clip, auto_release=False)
        core = await Core.open(
            settings_for(
                tmp_path,
                guild_max_running=guild_limit,
                default_max_queued=100,
                default_daily_seconds=10**6,
                default_monthly_seconds=10**6,
            ),
            clock=FakeClock(),
            backends={"scripted": backend, "scripted_b": backend},
            catalog=models,
        )
        oracle = Oracle(models, guild_limit)
        core.events.subscribe(oracle)
        core.attach_deliverer(RecordingDeliverer())
        return cls(core, backend, oracle)

    def running(self) -> list[Job]:
        return sorted(
            (job for job in self.oracle.active() if job.id not in self.let_go),
            key=lambda j: self.oracle.started.index(j.id),
        )

    def release(self, job: Job) -> None:
        self.let_go.add(job.id)
        self.backend.script(job.id).release.set()

    def fail(self, job: Job) -> None:
        self.let_go.add(job.id)
        self.backend.script(job.id).poll_error = BackendError(BackendErrorKind.GENERATION_FAILED, "scripted")

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until nothing moves: let-go jobs finished, and no waiting job that limits allow is left waiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            active = self.oracle.active()
            moving = [job for job in active if job.state is not JobState.RUNNING or job.id in self.let_go]
            winding_down = len(self.core.runner.running_jobs()) != len(active)
            idle_while_ready = self.oracle.eligible(self.core.queue.in_order())
            if not moving and not winding_down and not idle_while_ready:
                return
            if loop.time() > deadline:
                raise AssertionError(f"runner never settled: moving {moving}, ready but waiting {idle_while_ready}")
            await asyncio.sleep(0.003)

    async def drain(self) -> None:
        """Let everything run to the end, and check the books."""
        for guild in GUILDS:
            self.oracle.paused.discard(guild)
            await self.core.guilds.set_paused(guild, False)
        while True:
            await self.settle()
            running = self.running()
            if not running and not len(self.core.queue):
                break
            for job in running:
                self.release(job)
        for job in self.jobs:
            stored = await self.core.jobs.get(job.id)
            assert stored is not None and stored.state.finished, f"{job.id} stuck in {stored and stored.state}"
        assert await self.core.reports.ledger_check() == []


Batch = list[tuple[int, int, str]]  # (guild, user, model) of jobs queued at once
RunnerOp = tuple[str, int, int, Batch]
owners_and_models = st.tuples(st.sampled_from(GUILDS), st.integers(1, 3), st.sampled_from(MODELS))
runner_ops = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.just(0), st.just(0), st.lists(owners_and_models, min_size=1, max_size=4)),
        st.tuples(st.just("release"), st.just(0), st.integers(0, 9), st.just([])),
        st.tuples(
            st.sampled_from(["fail", "cancel", "pause"]), st.sampled_from(GUILDS), st.integers(0, 30), st.just([])
        ),
    ),
    min_size=6,
    max_size=15,
)

RUNNER = settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@RUNNER
@given(ops=runner_ops, guild_limit=st.sampled_from([3, 2, 1]), two_running=st.sets(st.integers(1, 3)))
async def test_runner_never_exceeds_a_limit_and_never_idles_needlessly(
    tmp_path_factory: pytest.TempPathFactory,
    small_clip: Path,
    ops: list[RunnerOp],
    guild_limit: int,
    two_running: set[int],
) -> None:
    """Whatever users queue, finish, fail, cancel or pause, no job starts past a limit or in a paused guild.

    Checked at the moment each job starts, from the state events: running per user
    <= its tier's max_running, per guild <= guild_max_running, per model <= its
    max_concurrency, per backend <= the account limit. And once things settle, no
    waiting job that every limit allows is left waiting (limits hold back, never more).
    """
    driven = await Driven.open(tmp_path_factory.mktemp("limits"), small_clip, limits_catalog(), guild_limit)
    core, oracle = driven.core, driven.oracle
    try:
        for guild in GUILDS:
            await core.guilds.set_tier(guild, Tier("two", 10**6, 10**6, 2, 100, 8))
            for user in two_running:
                await core.guilds.set_user_tier(guild, user, "two")
        await core.start()
        for op, guild, number, batch in ops:
            if op == "enqueue":
                for guild_id, user, model in batch:
                    queued = await core.jobs.enqueue(origin(user, guild_id), request(model=model), Member(user))
                    driven.jobs.append(queued.job)
            elif op in ("release", "fail") and (running := driven.running()):
                job = running[number % len(running)]
                driven.release(job) if op == "release" else driven.fail(job)
            elif op == "cancel" and driven.jobs:
                job = driven.jobs[number % len(driven.jobs)]
                with contextlib.suppress(Refusal):
                    await core.jobs.cancel(job.id, Member(job.user_id), job.guild_id)
            elif op == "pause":
                paused = guild not in oracle.paused
                if paused:
                    oracle.paused.add(guild)
                else:
                    oracle.paused.discard(guild)
                await core.guilds.set_paused(guild, paused)
            await driven.settle()
            assert oracle.violations == []
        await driven.drain()
        assert oracle.violations == []
    finally:
        await core.close()


@RUNNER
@given(
    jobs=st.lists(st.tuples(st.integers(1, 4), st.sampled_from(COSTS)), min_size=4, max_size=12),
    weights=st.lists(st.sampled_from([0.5, 1.0, 3.0]), min_size=4, max_size=4),
    slots=st.integers(1, 3),
    finish_order=st.lists(st.integers(0, 5), min_size=12, max_size=12),
)
async def test_reported_positions_are_the_order_jobs_then_start(
    tmp_path_factory: pytest.TempPathFactory,
    small_clip: Path,
    jobs: list[tuple[int, int]],
    weights: list[float],
    slots: int,
    finish_order: list[int],
) -> None:
    """The position a waiting job is shown is when the runner really starts it, whatever order jobs finish in.

    Holds while nobody new arrives and no running limit makes the runner skip a
    job (one model, generous per-user and guild limits). Positions ignore those
    limits: a job whose owner is at max_running is told it is next while later jobs
    start before it, so there a position is only an estimate.
    """
    models = limits_catalog(alpha=slots)
    driven = await Driven.open(tmp_path_factory.mktemp("positions"), small_clip, models, guild_limit=10)
    core = driven.core
    try:
        for user, weight in enumerate(weights, start=1):
            await core.guilds.set_tier(GUILD, Tier(f"u{user}", 10**6, 10**6, 10, 100, 8, weight=weight))
            await core.guilds.set_user_tier(GUILD, user, f"u{user}")
        await core.start()
        await core.guilds.set_paused_everywhere(True)
        for user, cost in jobs:
            queued = await core.jobs.enqueue(origin(user), request(seconds=cost, model="alpha"), Member(user))
            driven.jobs.append(queued.job)
        told = {job.id: core.jobs.place(job) for job in driven.jobs}
        assert all(place is not None for place in told.values())
        await core.guilds.set_paused_everywhere(False)
        for pick in finish_order:
            await driven.settle()
            if running := driven.running():
                driven.release(running[pick % len(running)])
        await driven.drain()
        started = driven.oracle.started
        assert [told[job_id].position for job_id in started] == list(range(1, len(jobs) + 1))  # type: ignore[union-attr]
    finally:
        await core.close()
