"""A consistent copy of a SQLite database while the bot keeps writing to it.

SQLite's online backup API, copying every page in one step: that step reads inside
one read transaction, so the copy is the database as of one moment, and in WAL
mode the bot's writers are not blocked meanwhile. The copy is written under a
partial name, checked with `PRAGMA integrity_check`, then renamed into place.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path


class BackupFailed(Exception):
    """The copy could not be made or did not check out; nothing is left under the target name."""


def backup_database(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupFailed(f"there is no database at {source}")
    if target.exists():
        raise BackupFailed(f"{target} already exists; choose a new file name")
    partial = target.with_name(f"{target.name}.part")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(source, timeout=30)) as reading, closing(sqlite3.connect(partial)) as copy:
            reading.backup(copy)
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupFailed(f"the copy failed its integrity check: {verdict}")
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as error:
        raise BackupFailed(f"could not copy {source} to {target}: {error}") from None
    finally:
        partial.unlink(missing_ok=True)
