"""`Store` over group commit: each unit of work runs in the database's next batch, on its thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from bot.store.batches import C, GroupCommit
from bot.store.guild_cache import GuildCache
from bot.store.store import Store
from bot.store.transaction import Tx

T = TypeVar("T")


class GroupCommitStore(Store, Generic[C]):
    def __init__(self, database: GroupCommit[C], kind: str, tx: Callable[[C, GuildCache], Tx]) -> None:
        super().__init__()
        self.database = database
        self._kind = kind
        self._tx = tx

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def batches(self) -> int:
        return self.database.batches

    async def close(self) -> None:
        await self.database.close()

    async def listen(self, channels: Sequence[str], on_notice: Callable[[str, str], None]) -> None:
        await self.database.listen(channels, on_notice)

    def _run(self, work: Callable[[Tx], T], *, writes: bool) -> Awaitable[T]:
        cache, tx = self._guild_cache, self._tx

        def on_connection(connection: C) -> T:
            unit = tx(connection, cache)
            result = work(unit)
            unit.finish()
            return result

        return self.database.run(on_connection, writes=writes)
