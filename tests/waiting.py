"""Waiting in tests for something the bot does in the background: a condition, never a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], what: str, *, timeout: float = 20.0, step: float = 0.01) -> None:
    """Return as soon as `condition()` holds; fail naming `what` after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if condition():
                    return
                await asyncio.sleep(step)
    except TimeoutError:
        raise AssertionError(f"after {timeout:g} s still waiting for {what}") from None
