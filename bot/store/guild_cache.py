"""Per-guild settings that every enqueue reads (configuration, tiers, role and member
tier mappings), kept beside the connection.

Only `Tx` touches the cache, and a `Tx` only runs on the database's thread inside
a batch, one work function at a time, so it needs no lock. A write to a guild's
settings forgets that guild; a write that fails forgets everything, because it may
have read its own change before that change was rolled back. Where several
processes share the database, the store also records the version of the guild's
settings its entries were read at (`match_version`), and drops them when another
process changed the settings since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bot.domain.records import GuildConfig
from bot.domain.tiers import Tier

T = TypeVar("T")


class GuildCache:
    def __init__(self) -> None:
        self._configs: dict[int, GuildConfig] = {}
        self._tiers: dict[int, dict[str, Tier]] = {}
        self._role_tiers: dict[int, dict[int, str]] = {}
        self._user_tiers: dict[int, dict[int, str]] = {}
        self._versions: dict[int, int | None] = {}  # per guild, where the store keeps versions

    def config(self, guild_id: int, load: Callable[[], GuildConfig]) -> GuildConfig:
        return _cached(self._configs, guild_id, load)

    def tiers(self, guild_id: int, load: Callable[[], dict[str, Tier]]) -> dict[str, Tier]:
        tiers = _cached(self._tiers, guild_id, load)
        return dict(tiers)  # a copy: callers may add to it

    def role_tiers(self, guild_id: int, load: Callable[[], dict[int, str]]) -> dict[int, str]:
        role_tiers = _cached(self._role_tiers, guild_id, load)
        return dict(role_tiers)

    def user_tiers(self, guild_id: int, load: Callable[[], dict[int, str]]) -> Mapping[int, str]:
        return _cached(self._user_tiers, guild_id, load)

    def match_version(self, guild_id: int, version: int | None) -> None:
        """Forget the guild's entries unless they were read at `version` of its settings."""
        if guild_id not in self._versions or self._versions[guild_id] != version:
            self.forget(guild_id)
            self._versions[guild_id] = version

    def forget(self, guild_id: int) -> None:
        for entries in self._all():
            entries.pop(guild_id, None)

    def clear(self) -> None:
        for entries in self._all():
            entries.clear()

    def _all(self) -> tuple[dict[int, Any], ...]:
        return (self._configs, self._tiers, self._role_tiers, self._user_tiers, self._versions)


def _cached(entries: dict[int, T], guild_id: int, load: Callable[[], T]) -> T:
    value = entries.get(guild_id)
    if value is None:
        value = entries[guild_id] = load()
    return value
