"""`footage-bot bench queue --sql-alone`: the run's own statements replayed with nothing else, beside the run.

The bot's work and the database's are told apart by recording every statement
the run sends (with its parameters, batch by batch) from the moment the core
starts, on a copy of the database made just before, and then running exactly those
on that copy on one thread (`bot.store.sqlite.replay`). Both figures count the
measured jobs over their own time; the replay runs `REPLAYS` times, each on a fresh
copy, and its median is taken. Beside wall time, CPU time: the process's for the run
(the event loop and the database thread), the replaying thread's for the replay. On a
machine other work shares, wall time swings with the load; CPU time much less.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from pathlib import Path

from bot.core import Core
from bot.store.group_commit_store import GroupCommitStore
from bot.store.sqlite.backup import backup_database
from bot.store.sqlite.database import Batch, Database
from bot.store.sqlite.replay import Took, replay

REPLAYS = 3


class SqlAlone:
    def __init__(self, database: Database, folder: Path) -> None:
        self._database = database
        self._folder = folder
        self._before = folder / "before-the-run.db"
        self._batches: list[Batch] = []
        self._started = 0.0
        self._cpu_started = 0.0

    @classmethod
    def of(cls, core: Core, folder: Path) -> SqlAlone:
        store = core.store
        assert isinstance(store, GroupCommitStore), "bench queue opens the store itself"
        assert isinstance(store.database, Database), "--sql-alone is refused on PostgreSQL before the run"
        return cls(store.database, folder)

    async def begin(self) -> None:
        """Copy the database as it stands (nothing runs yet) and record from the next batch on."""
        await asyncio.to_thread(backup_database, self._database.path, self._before)
        self._database.record(self._batches)
        self._started, self._cpu_started = time.perf_counter(), time.process_time()

    async def compare(self, jobs: int) -> dict[str, object]:
        """Stop recording, replay what was recorded, print both figures and their ratio."""
        bot = Took(time.perf_counter() - self._started, time.process_time() - self._cpu_started)
        self._database.record(None)
        statements = sum(len(batch) for batch in self._batches)
        replays = [await asyncio.to_thread(self._replay_once, run) for run in range(REPLAYS)]
        sql = Took(
            statistics.median(took.wall_seconds for took in replays),
            statistics.median(took.cpu_seconds for took in replays),
        )
        print(
            f"SQL alone: the run's {statements} statements in {len(self._batches)} batches on one thread, "
            f"{', '.join(f'{took.wall_seconds:.2f}' for took in replays)} s: {jobs / sql.wall_seconds:.0f} jobs/s, "
            f"{sql.cpu_seconds / jobs * 1e6:.0f} us CPU per job"
        )
        speed, cpu = sql.wall_seconds / bot.wall_seconds, sql.cpu_seconds / bot.cpu_seconds
        print(
            f"the bot, from core start to the last delivery: {bot.wall_seconds:.2f} s, "
            f"{jobs / bot.wall_seconds:.0f} jobs/s, "
            f"{bot.cpu_seconds / jobs * 1e6:.0f} us CPU per job; {speed:.2f} of SQL alone's speed, {cpu:.2f} of its CPU"
        )
        return {
            "statements": statements,
            "sql_alone_jobs_per_s": round(jobs / sql.wall_seconds, 1),
            "bot_jobs_per_s": round(jobs / bot.wall_seconds, 1),
            "of_sql_alone": round(speed, 3),
            "sql_alone_cpu_us_per_job": round(sql.cpu_seconds / jobs * 1e6, 1),
            "bot_cpu_us_per_job": round(bot.cpu_seconds / jobs * 1e6, 1),
            "of_sql_alone_cpu": round(cpu, 3),
        }

    def _replay_once(self, run: int) -> Took:
        copy = self._folder / f"replay-{run}.db"
        shutil.copyfile(self._before, copy)
        try:
            return replay(copy, self._batches)
        finally:
            for leftover in (copy, copy.with_name(f"{copy.name}-wal"), copy.with_name(f"{copy.name}-shm")):
                leftover.unlink(missing_ok=True)
