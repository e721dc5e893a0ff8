"""A gateway-like enqueuer in a process of its own: the real Core on PostgreSQL, enqueuing on command.

`python -m tests.core.enqueuer_child CONFIG.json` opens a gateway's Core with the
settings every process of the PostgreSQL tests shares (`WorkerConfig`), says
`ready PID`, then for each line `enqueue GUILD USER COUNT SECONDS` on stdin makes
COUNT enqueues for that member at once, as COUNT commands reaching this gateway
together would, and says `admitted N CODES`: how many were admitted, and the codes
of the refusals (comma separated, `-` for none). It stops at the end of its input.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from bot.core import Core
from bot.domain.jobs import JobRequest, Origin
from bot.jobs.refusal import Refusal
from bot.quotas.service import Member
from tests.child_process import say
from tests.core.crash_child import CHANNEL, MODEL, UPLOAD_LIMIT
from tests.core.crash_worker import WorkerConfig


async def enqueue_at_once(core: Core, guild: int, user: int, count: int, seconds: int) -> list[str | None]:
    """None for each job admitted, the refusal's code for each refused."""

    async def one(index: int) -> str | None:
        request = JobRequest(prompt=f"{os.getpid()} {user} {index}", model=MODEL, seconds=seconds, aspect="16:9")
        try:
            await core.jobs.enqueue(Origin(guild, CHANNEL, user, UPLOAD_LIMIT), request, Member(user))
        except Refusal as refusal:
            return refusal.code
        return None

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def serve(config: WorkerConfig) -> None:
    core = await Core.open(config.settings(), gateway=True)
    try:
        await core.start()
        say(f"ready {os.getpid()}")
        while line := await asyncio.to_thread(sys.stdin.readline):
            command, *numbers = line.split()
            assert command == "enqueue", line
            guild, user, count, seconds = map(int, numbers)
            outcomes = await enqueue_at_once(core, guild, user, count, seconds)
            codes = ",".join(code for code in outcomes if code is not None) or "-"
            say(f"admitted {outcomes.count(None)} {codes}")
    finally:
        await core.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format=f"enqueuer {os.getpid()}: %(name)s %(message)s")
    asyncio.run(serve(WorkerConfig.load(Path(argv[-1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
