"""Stopping on SIGTERM or SIGINT: the same graceful stop for every command that runs the bot.

An orchestrator (systemd, Docker, Kubernetes) sends SIGTERM and kills the process
some seconds later (Docker and systemd wait 10 s by default). The stop must be
over before then: accept nothing new, let the database writes already handed over
commit, leave provider jobs running (the next start polls them again), close the
Discord connection, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

# Inside the 10 s an orchestrator waits, with room for the interpreter's own exit.
STOP_SECONDS = 8.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_until_stopped(main: Awaitable[Any], stop: Callable[[], Awaitable[None]]) -> None:
    """Run `main` until it ends, or until SIGTERM/SIGINT; then `stop()`, given STOP_SECONDS.

    Whatever is left of `main` after the stop is canceled.
    """
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, signalled.set)
    running = asyncio.ensure_future(main)
    waiting = asyncio.ensure_future(signalled.wait())
    try:
        await asyncio.wait((running, waiting), return_when=asyncio.FIRST_COMPLETED)
        if signalled.is_set():
            log.info("stopping: no new jobs; provider jobs keep running and resume at the next start")
            started = loop.time()
            try:
                async with asyncio.timeout(STOP_SECONDS):
                    await stop()
            except TimeoutError:
                log.warning("the stop took longer than %g s; exiting anyway", STOP_SECONDS)
            else:
                log.info("stopped in %.1f s", loop.time() - started)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        waiting.cancel()
        if not running.done():
            running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
