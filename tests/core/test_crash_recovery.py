"""SIGKILL the bot at random points, over and over, on one database: nothing is lost or done twice.

A child process (tests/core/crash_child.py) runs the real Core against a loopback
fal fake and a loopback message board, both living here so they outlast every
kill and count what really reached the outside world. The test kills the child at
least fifty times at random moments, restarts it on the same SQLite file each time,
then lets a last, freshly started process finish. (The killed lives are forked from
a zygote that imported everything once, so a restart costs ~0.1 s, not ~1 s.)
Then, from the final state:

- every prompt became exactly one job, and every job finished: delivered, or failed
  SUBMIT_INTERRUPTED (killed inside a submit to a backend without idempotency keys,
  which the runner must stop rather than risk paying twice);
- no prompt reached the provider twice; each delivered job polled the provider job
  its one submit created;
- no job has two messages on the board, and exactly the delivered jobs have one,
  the one their row records;
- the ledger holds: `doctor`'s check passes, and each job has exactly the rows its
  end state calls for.

The seed (printed; set CRASH_SEED to replay it) fixes the kill delays and the fakes'
timings; the machine's speed still moves where each kill lands, so the assertions
are only about the final state, plus which states the kills caught in total.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from contextlib import closing, suppress
from pathlib import Path
from typing import NamedTuple

from bot.commands.doctor import check_ledger
from bot.settings import Settings
from tests.child_process import ROOT, read_words, send_line, start_child
from tests.core.crash_child import CATALOG, CrashConfig
from tests.core.crash_servers import CrashFal, MessageBoard

KILLS = 50
KILL_AFTER = (0.02, 0.3)  # seconds from a life's Core being open to its SIGKILL
FIRST_BATCH = 12
WAVE = 6
LOW_WATER = 8  # while killing, keep at least this many prompts unfinished so kills land on work
FINAL_TIMEOUT = 90.0
UNFINISHED = ("not enqueued", "queued", "submitting", "running", "fetching", "delivering")
# Every state a job holds across an await on the outside world must have been caught by some kill.
# A process alone on its database stores no "fetching": a download is caught as "running".
MUST_CATCH = ("submitting", "running", "delivering")
CLIP_SECONDS = 2  # the fake provider's clip (the `small_clip` fixture)


class Zygote:
    """The forking parent of every killed life (see crash_child); one `spawn` at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.live: int | None = None

    @classmethod
    async def start(cls, config: Path) -> Zygote:
        zygote = cls(await start_child("tests.core.crash_child", "--zygote", str(config)))
        assert (await zygote.line())[0] == "zygote"
        return zygote

    async def line(self) -> list[str]:
        words = await read_words(self.process)
        assert words, f"the zygote ended (code {self.process.returncode}); see its stderr"
        return words

    async def spawn(self) -> int:
        """Start a life and wait until its Core is open (its 'ready' may come before 'spawned')."""
        await send_line(self.process, "spawn")
        pid: int | None = None
        ready: int | None = None
        while pid is None or ready != pid:
            word, number, *rest = await self.line()
            if word == "spawned":
                pid = self.live = int(number)
            elif word == "ready":
                ready = int(number)
            else:
                self.live = None
                raise AssertionError(f"life {number} ended with code {rest} before its Core opened; see stderr")
        return pid

    async def kill(self, pid: int) -> int:
        """SIGKILL the life (unless it already ended) and return its exit code: -9 when killed."""
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        word, number, code = await self.line()
        assert (word, number) == ("exited", str(pid))
        self.live = None
        return int(code)

    async def close(self) -> None:
        if self.live is not None:
            await self.kill(self.live)
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class Batch:
    """The prompts file the lives enqueue from; prompts are unique, so each maps to one job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.prompts: list[str] = []
        path.write_text("", encoding="utf-8")

    def add(self, count: int) -> None:
        start = len(self.prompts)
        new = [f"crash clip {index:03d}: waves breaking on a lighthouse" for index in range(start, start + count)]
        self.prompts += new
        with self.path.open("a", encoding="utf-8") as file:
            file.writelines(f"{prompt}\n" for prompt in new)


def read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)


def states_now(database: Path, prompts: list[str]) -> Counter[str]:
    """How many prompts stand in each state, from what is committed (what a kill leaves)."""
    rows: list[tuple[str, str]] = []
    if database.exists():
        with closing(read_only(database)) as db, suppress(sqlite3.OperationalError):  # no tables yet
            rows = db.execute("SELECT prompt, state FROM jobs").fetchall()
    states = Counter(state for _, state in rows)
    states["not enqueued"] = len(set(prompts) - {prompt for prompt, _ in rows})
    return +states


def unfinished(states: Counter[str]) -> int:
    return sum(states[state] for state in UNFINISHED)


class JobRow(NamedTuple):
    id: str
    prompt: str
    state: str
    failure: str | None
    cost_seconds: int
    backend_job_id: str | None
    result_message_id: int | None


def final_rows(database: Path) -> tuple[list[JobRow], dict[str, list[tuple[str, int, int]]]]:
    """Every job, and every job's ledger rows as (entry, seconds, jobs) in the order written."""
    with closing(read_only(database)) as db:
        jobs = [JobRow(*row) for row in db.execute(f"SELECT {', '.join(JobRow._fields)} FROM jobs ORDER BY rowid")]
        entries = db.execute("SELECT job_id, entry, seconds, jobs FROM ledger ORDER BY id").fetchall()
    ledger: dict[str, list[tuple[str, int, int]]] = {job.id: [] for job in jobs}
    for job_id, entry, seconds, count in entries:
        ledger[job_id].append((entry, seconds, count))
    return jobs, ledger


def expected_ledger(job: JobRow) -> list[tuple[str, int, int]]:
    """Reserve at enqueue; release on failure; release and charge what was delivered on delivery."""
    rows = [("reserve", job.cost_seconds, 1), ("release", -job.cost_seconds, -1)]
    if job.state == "delivered":
        rows.append(("charge", min(job.cost_seconds, CLIP_SECONDS), 1))
    return rows


async def kill_repeatedly(
    config: Path, database: Path, batch: Batch, rng: random.Random, seed: int
) -> tuple[list[Counter[str]], int]:
    """Start a life, SIGKILL it after a random delay, until KILLS kills; return what each kill left."""
    kills: list[Counter[str]] = []
    natural_ends = 0
    zygote = await Zygote.start(config)
    try:
        while len(kills) < KILLS:
            if unfinished(states_now(database, batch.prompts)) < LOW_WATER:
                batch.add(WAVE)
            pid = await zygote.spawn()
            await asyncio.sleep(rng.uniform(*KILL_AFTER))
            code = await zygote.kill(pid)
            if code == -signal.SIGKILL:
                kills.append(states_now(database, batch.prompts))
            else:
                assert code == 0, f"life {pid} failed with code {code} (seed {seed}); see stderr"
                natural_ends += 1
    finally:
        await zygote.close()
    return kills, natural_ends


async def run_to_the_end(config: Path, seed: int) -> None:
    """The last life is a fresh interpreter, not a fork: the plain restart path finishes the work."""
    final = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.core.crash_child", str(config), cwd=ROOT, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        code = await asyncio.wait_for(final.wait(), FINAL_TIMEOUT)
    finally:
        if final.returncode is None:
            final.kill()
            await final.wait()
    assert code == 0, f"the final run failed with code {code} (seed {seed}); see stderr"


async def test_sigkill_at_random_points_loses_nothing_and_repeats_nothing(tmp_path: Path, small_clip: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed {seed} (replay with CRASH_SEED={seed})")
    rng = random.Random(seed)
    provider = CrashFal(small_clip.read_bytes(), random.Random(rng.random()))
    board = MessageBoard(random.Random(rng.random()))
    began = time.monotonic()
    await provider.start()
    await board.start()
    try:
        catalog = tmp_path / "footage.toml"
        catalog.write_text(CATALOG, encoding="utf-8")
        database = tmp_path / "footage.db"
        batch = Batch(tmp_path / "prompts.txt")
        batch.add(FIRST_BATCH)
        config = tmp_path / "crash.json"
        CrashConfig(
            database=str(database), media_dir=str(tmp_path / "clips"), catalog=str(catalog),
            prompts=str(batch.path), provider_url=provider.base_url, board_url=board.base_url,
        ).save(config)  # fmt: skip

        kills, natural_ends = await kill_repeatedly(config, database, batch, rng, seed)
        killing = time.monotonic() - began
        await run_to_the_end(config, seed)
        jobs, ledger = final_rows(database)
    finally:
        await board.stop()
        await provider.stop()

    caught = Counter(state for at_kill in kills for state in at_kill if state in UNFINISHED)
    ends = Counter((job.state, job.failure) for job in jobs)
    orphans = sum(1 for job in jobs if job.failure and provider.submits[job.prompt])
    print(
        f"{len(kills)} kills (+{natural_ends} lives that finished first) in {killing:.1f} s, "
        f"{time.monotonic() - began:.1f} s in all; {len(jobs)} jobs"
    )
    print(f"kills that caught a job in each state: {dict(caught)}")
    print(f"end states: {dict(ends)}")
    print(
        f"provider: {provider.accepted_submits} submits, {orphans} of them accepted but never recorded by the bot; "
        f"board: {len(board.posts)} posts, {sum(not post.new for post in board.posts)} answered from the nonce"
    )

    # Every prompt became one job, and every job finished in a designed way.
    assert sorted(job.prompt for job in jobs) == sorted(batch.prompts), f"seed {seed}"
    allowed = {("delivered", None), ("failed", "submit_interrupted")}
    assert set(ends) <= allowed, f"unexpected end states {dict(ends)} (seed {seed})"
    delivered = {job.id for job in jobs if job.state == "delivered"}
    assert delivered, f"no job was delivered (seed {seed})"

    # Nothing reached the provider twice; a delivered job followed its one submit.
    twice = {prompt: count for prompt, count in provider.submits.items() if count > 1}
    assert not twice, f"submitted more than once: {twice} (seed {seed})"
    assert set(provider.submits) <= set(batch.prompts)
    for job in jobs:
        if job.id in delivered:
            assert provider.request_ids[job.prompt] == [job.backend_job_id], f"{job} (seed {seed})"

    # One life asks once per job; the nonce is for a post whose answer died with its life.
    per_life = Counter((post.job_id, post.life) for post in board.posts)
    assert max(per_life.values()) == 1, f"posted twice by one life: {per_life.most_common(3)} (seed {seed})"
    # Exactly the delivered jobs have a message, one each, the one the job records.
    messages = board.messages_per_job()
    assert set(messages) == delivered, f"posted {set(messages) ^ delivered} wrongly (seed {seed})"
    for job in jobs:
        if job.id in delivered:
            assert messages[job.id] == {job.result_message_id}, f"{job} posted as {messages[job.id]} (seed {seed})"

    # The ledger: the doctor's check, then each job's rows one by one.
    check = await asyncio.to_thread(check_ledger, Settings(_env_file=None, database_path=database))
    assert check.ok, f"{check.detail} (seed {seed})"
    for job in jobs:
        assert ledger[job.id] == expected_ledger(job), f"{job}: ledger {ledger[job.id]} (seed {seed})"

    # Last, so the end state is checked even on a run whose kills bunched up.
    missing = [state for state in MUST_CATCH if not caught[state]]
    assert not missing, f"no kill caught a job {missing}; caught {dict(caught)} (seed {seed})"
