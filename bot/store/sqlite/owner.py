"""One bot process per SQLite file: an OS lock on `<database>.lock`, held for the process's life.

Two processes dispatching from one file would each start the same jobs (each keeps
its own queue and running limits). The lock is `flock` on a file beside the
database: the kernel releases it when the process ends, however it ends, so a crash
never leaves a stale lock. The file holds who has it, for the refusal's one line.
Readers (doctor, backup, benchmarks on their own files) take no lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class DatabaseInUse(Exception):
    """Another process owns the database; the message is one line naming the file and that process."""


def lock_path(database: Path) -> Path:
    return database.with_name(f"{database.name}.lock")


@contextmanager
def sole_owner(database: Path) -> Iterator[None]:
    """Own `database` for the block, or raise DatabaseInUse at once."""
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 512, 0).decode(errors="replace").strip() or "a process that did not say"
            raise DatabaseInUse(
                f"{database} is in use by another footage-bot process ({holder}); "
                "stop it first, or give this one its own database"
            ) from None
        command = " ".join(["footage-bot", *sys.argv[1:2]])
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()}, `{command}`, since {started}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
