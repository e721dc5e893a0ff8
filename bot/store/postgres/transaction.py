"""`Tx` on PostgreSQL: the shared statement body, plus what several processes on one database need."""

from __future__ import annotations

from typing import Any

from bot.store.guild_cache import GuildCache
from bot.store.postgres.queries import STATEMENTS
from bot.store.statement_tx import Connection, StatementTx


class PostgresTx(StatementTx):
    statements = STATEMENTS

    def __init__(self, connection: Connection, cache: GuildCache) -> None:
        super().__init__(connection, cache)
        self._current_guild: int | None = None  # the guild whose cached settings this Tx checked

    def lock_admission(self, guild_id: int, user_id: int, *, whole_guild: bool) -> None:
        # Always in this order (guild, then member), so two admissions never wait on each other in a circle.
        if whole_guild:
            self._run(STATEMENTS["lock_guild_admission"], (guild_id,))
        self._run(STATEMENTS["lock_member_admission"], (guild_id, user_id))

    def lock_claims(self) -> bool:
        row = self._one(STATEMENTS["lock_claims"])
        return bool(row[0]) if row else False

    def notify(self, channel: str, payload: str) -> None:
        self._all(STATEMENTS["notify"], (channel, payload))

    def _guild_cache(self, guild_id: int) -> GuildCache:
        # Another process may have changed the guild's settings: compare versions once per unit of work.
        if guild_id != self._current_guild:
            row: Any = self._one(STATEMENTS["guild_version"], (guild_id,))
            self._cache.match_version(guild_id, row[0] if row else None)
            self._current_guild = guild_id
        return self._cache

    def _forget_guild(self, guild_id: int) -> None:
        self._run(STATEMENTS["bump_guild_version"], (guild_id,))
        self._cache.forget(guild_id)
        self._current_guild = None
