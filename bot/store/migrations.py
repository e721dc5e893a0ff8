"""Numbered migrations: `NNNN_what_it_does.sql` files in a store package's `migrations/` folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: list[str]


def migrations(package: str) -> list[Migration]:
    """The package's migrations in order, each split into statements."""
    found = [
        Migration(int(match.group(1)), entry.name, _statements(entry.read_text(encoding="utf-8")))
        for entry in resources.files(package).joinpath("migrations").iterdir()
        if (match := _MIGRATION_NAME.match(entry.name))
    ]
    return sorted(found, key=lambda migration: migration.version)


def _statements(script: str) -> list[str]:
    """Split a migration into statements: each runs on its own inside the migrations' transaction."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [part.strip() for part in without_comments.split(";") if part.strip()]
