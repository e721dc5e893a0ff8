"""`Tx` on SQLite: the shared statement body (`StatementTx`) with this package's `queries.sql`."""

from __future__ import annotations

from bot.store.sqlite.queries import STATEMENTS
from bot.store.statement_tx import StatementTx


class SqliteTx(StatementTx):
    """Runs synchronously on the connection's thread inside a batch (see Database)."""

    statements = STATEMENTS

    def lock_admission(self, guild_id: int, user_id: int, *, whole_guild: bool) -> None:
        """Nothing to take: a writing batch's BEGIN IMMEDIATE already keeps every other writer out."""

    def lock_claims(self) -> bool:
        return True  # one connection, one transaction at a time: claims never overlap

    def notify(self, channel: str, payload: str) -> None:
        return None  # no other process listens to a SQLite file
