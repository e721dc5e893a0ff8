"""Wake-ups between processes: a notification written in one store's transaction reaches another's listener."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from bot.store.opening import open_store
from bot.store.transaction import Tx
from bot.store.urls import sqlite_url


async def test_a_notification_reaches_another_process_when_its_transaction_commits(postgres_url: str) -> None:
    sender, listener = await open_store(postgres_url), await open_store(postgres_url)
    heard: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    listening = asyncio.create_task(
        listener.listen(("footage_jobs", "footage_control"), lambda *notice: heard.put_nowait(notice))
    )
    try:
        assert await asyncio.wait_for(heard.get(), 30) == ("", "")  # listening: look once, something may be missed

        def rolled_back(tx: Tx) -> None:
            tx.notify("footage_control", "NEVER")
            raise RuntimeError("this transaction rolls back")

        with contextlib.suppress(RuntimeError):
            await sender.write(rolled_back)
        await sender.write(lambda tx: tx.notify("footage_control", "JOB12345"))
        assert await asyncio.wait_for(heard.get(), 30) == ("footage_control", "JOB12345")
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await sender.close()
        await listener.close()


async def test_a_sqlite_store_hears_nothing_and_stops_when_told(tmp_path: Path) -> None:
    store = await open_store(sqlite_url(tmp_path / "one.db"))
    try:
        listening = asyncio.create_task(store.listen(("footage_jobs",), lambda *notice: None))
        await asyncio.sleep(0.05)
        assert not listening.done()
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    finally:
        await store.close()
