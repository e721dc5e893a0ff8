"""One logging set-up for the bot and discord.py: one line per event, level from settings."""

from __future__ import annotations

import logging
import sys

from bot.safe_text import one_line

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class OneLineFormatter(logging.Formatter):
    """One line per event: members' and providers' text in a message can neither start a
    forged line nor reach the terminal as control codes. Tracebacks keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return "\n".join(one_line(line) for line in super().formatException(ei).split("\n"))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py logs through the root logger once it has a handler; keep its
    # per-request chatter at INFO unless the admin asks for DEBUG.
    logging.getLogger("discord.http").setLevel(max(logging.getLevelName(level), logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)
