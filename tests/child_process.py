"""What the tests' child processes share: a config the test writes as JSON, lines back on stdout,
and, on the test's side, starting a child and reading its lines."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self, cast

ROOT = Path(__file__).resolve().parents[1]
LINE_TIMEOUT = 30.0


class JsonConfig:
    """A frozen dataclass's fields, saved by the test and loaded by the child it starts."""

    __slots__ = ()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(cast(Any, self))), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def say(line: str) -> None:
    """One write per line: a pipe keeps writes under PIPE_BUF whole, even when several processes share it."""
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


async def start_child(module: str, *args: str) -> asyncio.subprocess.Process:
    """`python -m MODULE ARGS...` from the project's root, its stdin and stdout piped to the test."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def read_words(child: asyncio.subprocess.Process) -> list[str]:
    """The child's next line, split; empty at its end."""
    assert child.stdout is not None
    raw = await asyncio.wait_for(child.stdout.readline(), LINE_TIMEOUT)
    return raw.decode().split()


async def send_line(child: asyncio.subprocess.Process, line: str) -> None:
    assert child.stdin is not None
    child.stdin.write(f"{line}\n".encode())
    await child.stdin.drain()
