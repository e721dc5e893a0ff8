"""The fair order holds when two or three worker processes claim from one PostgreSQL database.

The single-process properties (tests/core/test_scheduler_properties.py) checked on
what several real worker processes (tests/core/crash_worker.py, through
`worker_fleet`) start: members with hypothesis-drawn weights and backlogs are
enqueued by the gateway in this process while the bot is paused, member after member
(so arrival order is as unfair as it gets), then the workers drain them together;
a late member arrives once a few claims have been made.

The order the workers started jobs in is read from the database itself. A claim is
one transaction holding the claim lock until it commits, so PostgreSQL runs the
claims one after another; a trigger the test adds to its throwaway database logs
each job leaving the queue with a sequence number and the claiming transaction, which
gives the claims in order, each a set of jobs started at once. (No column of the
product keeps that order: `started_at` is when the provider accepted the job, which
races between workers, and `updated_at` moves on.) Within one claim the order is not
observable, and needs not be: its jobs start together.

With every running limit but the shared ones (model concurrency, each worker's
share) out of the way, each claim takes the head of the fair order among the jobs it
sees, so the bounds are the single-process ones, counted in whole claims:

* a member's jobs start in enqueue order (per lane);
* a claim that starts a relax-lane job leaves no normal-lane job it sees waiting;
* while both wait, two members' footage-seconds served per unit of weight stay
  within max(c_max_u/w_u, c_max_v/w_v) of each other (checked after every claim);
* while a job waits, another member starts at most floor(slack * w_v / c_min) + 1
  jobs, slack being the waiting member's own work ahead of it over its weight.

The late member's tags come from the gateway's virtual time, which follows the
workers' claims only every few seconds: it lags, never leads, so the late member
goes no later than a single process would send it, and the bounds still hold.
When the late jobs are visible to a claim is pinned by a marker the test logs
under the claim lock once they are enqueued: every later claim saw them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.jobs import Job, JobState
from bot.domain.tiers import Tier
from bot.quotas.service import NORMAL_LANE, RELAX_LANE
from bot.store.postgres.queries import Q
from tests.core.crash_child import GUILD, MODEL
from tests.core.test_scheduler_properties import EPSILON, WEIGHTS
from tests.core.worker_fleet import Fleet, worker_fleet
from tests.postgres_cluster import PostgresCluster

COSTS = (2, 4)  # the test catalog's durations
MAX_JOBS = 2  # per worker: the model's concurrency (4) needs at least two workers
RELAX_DAILY_SECONDS = 4  # a relax member's jobs past this wait in the relax lane
FINISH_TIMEOUT = 120.0
CLAIM_LOG = """
CREATE TABLE claim_log (seq BIGINT GENERATED ALWAYS AS IDENTITY, job_id TEXT, claim TEXT NOT NULL);
CREATE FUNCTION log_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO claim_log (job_id, claim) VALUES (NEW.id, pg_current_xact_id()::text);
    RETURN NULL;
END $$;
CREATE TRIGGER log_claims AFTER UPDATE OF state ON jobs FOR EACH ROW
    WHEN (OLD.state = 'queued' AND NEW.state <> 'queued') EXECUTE FUNCTION log_claim();
"""

Backlog = tuple[float, list[int], bool]  # weight, the costs of its jobs in enqueue order, relax allowed
Late = tuple[float, list[int], int]  # weight, costs, after how many claims it arrives


@dataclass
class Claims:
    """The claims in the order PostgreSQL ran them, and where the late jobs became visible."""

    order: list[set[str]]
    late_visible_from: int  # the first claim that saw the late jobs

    def index(self) -> dict[str, int]:
        at: dict[str, int] = {}
        for number, claim in enumerate(self.order):
            for job_id in claim:
                assert job_id not in at, f"{job_id} claimed twice"
                at[job_id] = number
        return at


def install_claim_log(url: str) -> None:
    with psycopg.connect(url) as db:
        db.execute(CLAIM_LOG)


def claims_so_far(url: str) -> tuple[int, int]:
    """Claims made, and jobs they started."""
    with psycopg.connect(url) as db:
        row = db.execute("SELECT COUNT(DISTINCT claim), COUNT(*) FROM claim_log WHERE job_id IS NOT NULL").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def mark_visible(url: str) -> None:
    """Log a marker holding the claim lock: a claim logged after it began after the late jobs were committed."""
    with psycopg.connect(url, autocommit=True) as db:
        while True:
            with db.transaction():
                row = db.execute(Q["lock_claims"]).fetchone()
                if row is not None and row[0]:
                    db.execute("INSERT INTO claim_log (job_id, claim) VALUES (NULL, pg_current_xact_id()::text)")
                    return
            time.sleep(0.002)


def read_claims(url: str) -> Claims:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT job_id, claim FROM claim_log ORDER BY seq").fetchall()
    order: list[set[str]] = []
    late_visible_from = -1
    current = None
    for job_id, claim in rows:
        if job_id is None:
            late_visible_from = len(order)
        elif claim == current:
            order[-1].add(job_id)
        else:
            order.append({job_id})
        current = claim
    assert late_visible_from >= 0, "the marker was never logged"
    return Claims(order, late_visible_from)


async def give_tier(fleet: Fleet, member: int, weight: float, relax: bool) -> None:
    """A tier of its own for the weight; limits no claim can hit, but a small daily quota for a relax member."""
    daily = RELAX_DAILY_SECONDS if relax else 10**6
    tier = Tier(f"m{member}", daily, 10**6, 100, 100, max(COSTS), weight=weight, relax_allowed=relax)
    await fleet.gateway.guilds.set_tier(GUILD, tier)
    await fleet.gateway.guilds.set_user_tier(GUILD, member, tier.name)


async def until_finished(fleet: Fleet, count: int) -> list[Job]:
    deadline = time.monotonic() + FINISH_TIMEOUT
    while time.monotonic() < deadline:
        stored = await fleet.stored()
        if len(stored) == count and all(job.state.finished for job in stored):
            return stored
        await asyncio.sleep(0.05)
    raise AssertionError(f"jobs unfinished after {FINISH_TIMEOUT} s: {Counter(job.state for job in stored)}")


def check_fair_order(jobs: list[Job], late_ids: set[str], claims: Claims, weights: dict[int, float]) -> None:
    """The four properties of the module docstring, on the enqueue order `jobs` and the claims."""
    claimed_at = claims.index()
    assert set(claimed_at) == {job.id for job in jobs}
    visible_from = {job.id: claims.late_visible_from if job.id in late_ids else 0 for job in jobs}
    normal = [job for job in jobs if job.lane == NORMAL_LANE]

    for member in weights:
        for lane in (NORMAL_LANE, RELAX_LANE):
            own = [claimed_at[job.id] for job in jobs if job.user_id == member and job.lane == lane]
            assert own == sorted(own), f"member {member}'s later job started first (claims {own}, lane {lane})"

    for job in jobs:
        if job.lane != RELAX_LANE:
            continue
        at = claimed_at[job.id]
        passed = [other.id for other in normal if visible_from[other.id] <= at < claimed_at[other.id]]
        assert not passed, f"relax job {job.id} started in claim {at} while normal jobs {passed} waited"

    initial = [member for member in weights if not any(job.id in late_ids for job in jobs if job.user_id == member)]
    for number in range(len(claims.order)):
        served = Counter[int]()
        waiting = set()
        for job in normal:
            if claimed_at[job.id] <= number:
                served[job.user_id] += job.cost_seconds
            elif job.user_id in initial:
                waiting.add(job.user_id)
        for u in waiting:
            for v in waiting:
                if u >= v:
                    continue
                gap = abs(served[u] / weights[u] - served[v] / weights[v])
                costliest = [max(j.cost_seconds for j in normal if j.user_id == m) / weights[m] for m in (u, v)]
                assert gap <= max(costliest) + EPSILON, (
                    f"after claim {number}, members {u} and {v} drifted {gap:.2f} apart (bound {max(costliest):.2f})"
                )

    for job in normal:
        own_ahead = sum(o.cost_seconds for o in jobs[: jobs.index(job)] if o.user_id == job.user_id)
        slack = own_ahead / weights[job.user_id]
        while_waiting = [claims.order[number] for number in range(visible_from[job.id], claimed_at[job.id])]
        ahead = Counter(other.user_id for other in jobs for claim in while_waiting if other.id in claim)
        for other, count in ahead.items():
            if other == job.user_id:
                continue
            bound = math.floor(slack * weights[other] / min(COSTS) + EPSILON) + 1
            assert count <= bound, (
                f"job {job.id} of member {job.user_id} (weight {weights[job.user_id]}) waited behind {count} jobs "
                f"of member {other} (weight {weights[other]}); start-time fair queueing allows {bound}"
            )


backlogs = st.lists(
    st.tuples(st.sampled_from(WEIGHTS), st.lists(st.sampled_from(COSTS), min_size=2, max_size=6), st.booleans()),
    min_size=2,
    max_size=4,
)
lates = st.tuples(st.sampled_from(WEIGHTS), st.lists(st.sampled_from(COSTS), min_size=1, max_size=3), st.integers(1, 3))


@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(
    members=[(1.0, [2, 2, 2, 2, 2, 2], False), (3.0, [4, 2, 4, 2, 4], False), (0.5, [2, 2, 4, 2], True)],
    late=(1.0, [2, 2], 2),
    workers=3,
)
@given(members=backlogs, late=lates, workers=st.sampled_from([2, 3]))
async def test_worker_processes_together_start_jobs_in_the_fair_order(
    postgres_cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
    small_clip: Path,
    members: list[Backlog],
    late: Late,
    workers: int,
) -> None:
    folder = tmp_path_factory.mktemp("fairness")
    async with worker_fleet(postgres_cluster, folder, small_clip, workers=workers, max_jobs=MAX_JOBS, seed=1) as fleet:
        spec = fleet.gateway.catalog.get(MODEL)
        assert spec is not None and tuple(spec.durations) == COSTS
        await asyncio.to_thread(install_claim_log, fleet.url)
        weights: dict[int, float] = {}
        for member, (weight, _, relax) in enumerate(members, start=1):
            weights[member] = weight
            await give_tier(fleet, member, weight, relax)
        late_member = len(members) + 1
        late_weight, late_costs, late_after = late
        weights[late_member] = late_weight
        await give_tier(fleet, late_member, late_weight, relax=False)

        await fleet.gateway.guilds.set_paused_everywhere(True)
        jobs = [
            await fleet.enqueue(member, cost, f"member {member} clip {index}")
            for member, (_, costs, _) in enumerate(members, start=1)
            for index, cost in enumerate(costs)
        ]
        await fleet.gateway.guilds.set_paused_everywhere(False)
        deadline = time.monotonic() + FINISH_TIMEOUT
        while True:
            made, started = await asyncio.to_thread(claims_so_far, fleet.url)
            if made >= late_after or started == len(jobs):
                break
            assert time.monotonic() < deadline, f"{made} claims in {FINISH_TIMEOUT} s"
            await asyncio.sleep(0.005)
        late_jobs = [await fleet.enqueue(late_member, cost, f"late clip {n}") for n, cost in enumerate(late_costs)]
        await asyncio.to_thread(mark_visible, fleet.url)
        jobs += late_jobs

        stored = {job.id: job for job in await until_finished(fleet, len(jobs))}
        assert Counter(job.state for job in stored.values()) == {JobState.DELIVERED: len(jobs)}
        claims = await asyncio.to_thread(read_claims, fleet.url)
        claimers = set(fleet.lives.claimed_by.values())
    assert len(claimers) > 1, f"only {claimers} claimed: nothing was dispatched across processes"
    check_fair_order([stored[job.id] for job in jobs], {job.id for job in late_jobs}, claims, weights)
