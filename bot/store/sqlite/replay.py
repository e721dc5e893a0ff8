"""The bot's own statements, recorded as they run and replayed alone (`footage-bot bench queue --sql-alone`).

What the database costs of a run is told apart from what the bot's Python costs by
running the very statements the run sent, with their parameters, in the same
batches (one transaction each, the same BEGIN and COMMIT), under the same pragmas,
on a copy of the database as it stood when recording began, on one thread with
nothing else: no event loop, no thread hand-off, no job objects.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from bot.store.sqlite.database import PRAGMAS, Batch


def open_like_the_bot(path: Path) -> sqlite3.Connection:
    """A connection as the bot's own: no implicit transactions, rows as `sqlite3.Row`, the same pragmas."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        connection.execute(pragma).fetchall()
    return connection


class Took(NamedTuple):
    wall_seconds: float
    cpu_seconds: float  # this thread's: what the statements cost, whatever else the machine runs


def replay(path: Path, batches: Sequence[Batch]) -> Took:
    """Run `batches` on the database at `path` in order, every row fetched; the time it took."""
    connection = open_like_the_bot(path)
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        for batch in batches:
            for sql, params in batch:
                connection.execute(sql, params).fetchall()
        return Took(time.perf_counter() - wall, time.thread_time() - cpu)
    finally:
        connection.close()
