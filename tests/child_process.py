"""What the tests' child processes share: a config the test writes as JSON, and lines back on stdout."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self, cast


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
