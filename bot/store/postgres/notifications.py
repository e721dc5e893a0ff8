"""LISTEN on PostgreSQL: wake-ups between processes, on a connection of their own.

A notification sent while no connection listens is lost, so `on_notice("", "")` is
called each time listening (re)starts: the listener then looks for itself. Polling
stays the fallback in the callers for the same reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


async def listen(conninfo: str, channels: Sequence[str], on_notice: Callable[[str, str], None]) -> None:
    """Until canceled: `on_notice(channel, payload)` for each notification; reconnects after a failure."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                for channel in channels:
                    await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                on_notice("", "")
                async for notice in connection.notifies():
                    on_notice(notice.channel, notice.payload)
        except psycopg.Error as error:
            log.warning("listening for notifications failed (%s); again in %.0f s", type(error).__name__, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
