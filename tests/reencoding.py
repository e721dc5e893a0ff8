"""Catching a re-encode mid-way: ffmpeg slowed to the clip's own speed, and this process's children."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from bot.media import fit


def reencode_at_playback_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg reads its input in real time (`-re`): a 3 s clip takes 3 s, time to stop it mid-way."""
    real_command = fit._command

    def at_playback_speed(*args: Any) -> list[str]:
        command = real_command(*args)
        at = command.index("-i")
        return [*command[:at], "-re", *command[at:]]

    monkeypatch.setattr(fit, "_command", at_playback_speed)


async def until_reencoding(folder: Path) -> None:
    """Until ffmpeg has created its output in `folder` (it does so first thing); 60 s at most, a liveness bound."""
    for _ in range(3000):
        if list(folder.glob("*.fit*.mp4")):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no re-encode started in {folder}")


def child_pids() -> set[str]:
    children: set[str] = set()
    for task in Path("/proc/self/task").iterdir():
        with suppress(FileNotFoundError):  # a thread that ended meanwhile (the store's, after a close)
            children.update((task / "children").read_text().split())
    return children
