"""A throwaway schema on a PostgreSQL database, for a benchmark that must start empty and leave nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import psycopg
from psycopg import sql


@asynccontextmanager
async def scratch_schema(url: str) -> AsyncIterator[str]:
    """A URL whose tables all land in a new, empty schema, dropped afterwards."""
    schema = f"footage_scratch_{secrets.token_hex(4)}"
    await asyncio.to_thread(_execute, url, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        options = quote(f"-c search_path={schema}")
        yield f"{url}{'&' if '?' in url else '?'}options={options}"
    finally:
        await asyncio.to_thread(_execute, url, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _execute(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)
