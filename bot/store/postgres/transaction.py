"""`Tx` on PostgreSQL: the shared statement body, plus what several processes on one database need."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from bot.store.guild_cache import GuildCache
from bot.store.postgres.queries import STATEMENTS
from bot.store.statement_tx import StatementTx

# Statements planned afresh at every call instead of prepared. A prepared statement runs a
# generic plan after five calls, made without the values: for a member's usage that plan
# walks the guild's index and filters by member, so every enqueue read the whole guild's
# month of ledger rows (docs/operations.md); planned with the values it reads the member's.
_PLANNED_PER_CALL = frozenset({STATEMENTS["user_usage"]})


class PostgresTx(StatementTx):
    statements = STATEMENTS

    def __init__(self, connection: psycopg.Connection[Any], cache: GuildCache) -> None:
        super().__init__(connection, cache)
        self._connection = connection
        self._current_guild: int | None = None  # the guild whose cached settings this Tx checked

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        prepare = False if sql in _PLANNED_PER_CALL else None
        return self._connection.execute(sql, params, prepare=prepare).fetchall()

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
