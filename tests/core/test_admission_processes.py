"""Two gateway processes admit jobs for the same member at the same moment: no limit is passed.

Two real child processes (tests/core/enqueuer_child.py), each a gateway's Core on the
same PostgreSQL database, get a burst of enqueues at once, for one member or, for the
server's spending budget, for one member each. The test holds the members' admission
locks while the bursts go out and lets go only once both processes wait at a lock, so
their admission transactions are open together (proved from `pg_locks`), as when two
gateways get the member's commands in the same instant. No worker runs, so every job
admitted stays queued and what was admitted is read back whole: the member's waiting
limit, daily seconds quota and the server's daily spending budget each admit exactly
what they allow, no more, and the ledger holds (reserved + used = sum of the ledger).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.domain.jobs import JobState
from bot.domain.tiers import Tier
from bot.quotas import ledger
from tests.child_process import read_words, send_line, start_child
from tests.core.crash_child import GUILD, MODEL
from tests.core.test_postgres_admission import held_admissions
from tests.core.worker_fleet import Fleet, worker_fleet
from tests.postgres_cluster import PostgresCluster

BUDGET_GUILD = GUILD + 1  # a budget makes every admission in its guild take the guild's lock
CLIP_SECONDS = 2
BURST = 4  # enqueues each process gets at once: more than each limit below admits, so one process alone meets it


async def burst(children: list[asyncio.subprocess.Process], fleet: Fleet, guild: int, users: list[int]) -> list[str]:
    """Each child gets BURST enqueues for its member while the members' admissions are held; their answers."""
    async with held_admissions(fleet.url, guild, set(users)) as let_go:
        for child, user in zip(children, users, strict=True):
            await send_line(child, f"enqueue {guild} {user} {BURST} {CLIP_SECONDS}")
        await let_go(len(children))
    outcomes: list[str] = []
    for child in children:
        words = await read_words(child)
        assert words[:1] == ["admitted"], f"{words}: see the child's stderr"
        outcomes += ["ok"] * int(words[1]) + [code for code in words[2].split(",") if code != "-"]
    return outcomes


async def stopped(child: asyncio.subprocess.Process) -> int:
    """End the child's input and wait for it to stop; its exit code."""
    if child.stdin is not None:
        child.stdin.close()
    try:
        return await asyncio.wait_for(child.wait(), 30.0)
    except TimeoutError:
        child.kill()
        return await child.wait()


async def queued_of(fleet: Fleet, guild: int) -> list[tuple[int, int, int]]:
    jobs = await fleet.gateway.store.read(lambda tx: tx.jobs_in_states([JobState.QUEUED]))
    return [(job.user_id, job.cost_seconds, job.cost_micros) for job in jobs if job.guild_id == guild]


async def test_two_gateway_processes_admitting_one_member_at_once_pass_no_limit(
    postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, small_clip: Path
) -> None:
    folder = tmp_path_factory.mktemp("admission")
    async with worker_fleet(postgres_cluster, folder, small_clip, workers=0, max_jobs=1, seed=0) as fleet:
        guilds = fleet.gateway.guilds
        spec = fleet.gateway.catalog.get(MODEL)
        price = spec.price_micros(CLIP_SECONDS) if spec is not None else None
        assert price
        await guilds.set_tier(GUILD, Tier("three-waiting", 10**6, 10**6, 1, 3, 8))
        await guilds.set_user_tier(GUILD, 1, "three-waiting")
        await guilds.set_tier(GUILD, Tier("six-seconds", 6, 10**6, 1, 100, 8))
        await guilds.set_user_tier(GUILD, 2, "six-seconds")
        await guilds.set_budgets(BUDGET_GUILD, daily_budget_micros=3 * price)
        children: list[asyncio.subprocess.Process] = []
        try:
            for _ in range(2):
                children.append(await start_child("tests.core.enqueuer_child", str(folder / "workers.json")))
            for child in children:
                assert (await read_words(child))[:1] == ["ready"], "an enqueuer did not start: see its stderr"

            outcomes = await burst(children, fleet, GUILD, [1, 1])
            assert sorted(outcomes) == ["ok"] * 3 + ["queue_full"] * 5
            assert [user for user, _, _ in await queued_of(fleet, GUILD)] == [1] * 3

            outcomes = await burst(children, fleet, GUILD, [2, 2])
            assert sorted(outcomes) == ["daily_quota"] * 5 + ["ok"] * 3  # 6 s a day, 2 s a clip
            assert sum(seconds for user, seconds, _ in await queued_of(fleet, GUILD) if user == 2) == 6

            # One member in each process: only the guild's lock stands between the two spendings.
            outcomes = await burst(children, fleet, BUDGET_GUILD, [3, 4])
            assert sorted(outcomes) == ["daily_spending"] * 5 + ["ok"] * 3
            assert sum(micros for _, _, micros in await queued_of(fleet, BUDGET_GUILD)) == 3 * price
        finally:
            codes = [await stopped(child) for child in children]
        assert codes == [0, 0]
        assert await fleet.gateway.store.read(ledger.mismatches) == []
