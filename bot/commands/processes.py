"""What the gateway and worker commands need before they start: a database other processes share."""

from __future__ import annotations

from bot.settings import Settings
from bot.store.opening import configured_url
from bot.store.urls import store_kind


def refusal_without_postgresql(settings: Settings, command: str) -> str | None:
    """One line saying why `command` cannot run on this store, or None when it can."""
    if store_kind(configured_url(settings)) == "postgresql":
        return None
    return (
        f"footage-bot {command}: gateway and worker processes share one PostgreSQL database; "
        "set DATABASE_URL=postgresql://user:password@host:port/database (a SQLite file serves one process: "
        "use `footage-bot run`)"
    )
