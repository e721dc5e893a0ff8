"""Helpers for the SimCord tests: the wait hook, real clips, the test world, ids from messages."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import simcord
from PIL import Image
from simcord.components import walk_components

from bot.discord_glue.client import FootageBot
from bot.domain.jobs import Job
from bot.jobs.events import JobEvent


def write_clip(path: Path, *, size: tuple[int, int] = (64, 64), frames: int = 16, noise: bool = False) -> Path:
    """A real H.264 clip; with `noise` it compresses badly, so it is big (the same bytes every run)."""
    width, height = size
    pixels = random.Random(f"{size} {frames}")
    with av.open(str(path), mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if noise:
            stream.options = {"preset": "ultrafast", "crf": "4"}
        for index in range(frames):
            if noise:
                picture = Image.frombytes("RGB", size, pixels.randbytes(width * height * 3))
            else:
                picture = Image.new("RGB", size, (index * 15 % 256, 80, 160))
            frame = av.VideoFrame.from_image(picture)
            frame.pts, frame.time_base = index, Fraction(1, 8)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


@dataclass
class World:
    env: simcord.Env
    guild: Any
    channel: Any
    alice: Any
    bob: Any
    admin: Any
    mod: Any

    @property
    def bot(self) -> FootageBot:
        bot = self.env.bot
        assert isinstance(bot, FootageBot)
        return bot

    async def job(self, job_id: str) -> Job:
        services = self.bot.footage
        assert services is not None
        job = await services.core.jobs.get(job_id)
        assert job is not None
        return job

    async def finished(self, job_id: str, timeout: float = 60.0) -> Job:
        """The job once it has finished, waiting for it if need be.

        Settling returns while a job waits on a declared external wait, and a re-encode's
        ffmpeg is one: its last moment (after its output closes, before its exit is seen)
        would otherwise be a race with the test.
        """
        services = self.bot.footage
        assert services is not None
        done = asyncio.Event()

        def on_event(event: JobEvent) -> None:
            if event.job.id == job_id and event.job.state.finished:
                done.set()

        unsubscribe = services.core.events.subscribe(on_event)
        try:
            if not (await self.job(job_id)).state.finished:
                await asyncio.wait_for(done.wait(), timeout)
        finally:
            unsubscribe()
        await self.env.settle()
        return await self.job(job_id)


BUTTON = 2
TEXT_DISPLAY = 10
MEDIA_GALLERY = 12
JOB_FOOTER = re.compile(r"^-# Job (?P<job>\S+)$", re.MULTILINE)


def layout_components(message: Any) -> list[dict[str, Any]]:
    """Every component of a Components V2 message, nested ones included, in wire order.

    Takes a `discord.Message`, a SimCord response, or the raw components of a message
    body (as a REST stand-in got them).
    """
    raw = message if isinstance(message, list) else message.components
    top = [component if isinstance(component, dict) else component.to_dict() for component in raw]
    every = list(walk_components(top))
    assert any(component.get("type") == TEXT_DISPLAY for component in every), f"not a layout: {message!r}"
    return every


def layout_text(message: Any) -> str:
    """What a layout says: its text displays in order, one per line. The one way tests read the bot's cards."""
    return "\n".join(c["content"] for c in layout_components(message) if c.get("type") == TEXT_DISPLAY)


def button_labels(message: Any) -> list[str]:
    return [c["label"] for c in layout_components(message) if c.get("type") == BUTTON]


def gallery_urls(message: Any) -> list[str]:
    """The media a layout shows in its galleries (an attached clip resolves to its CDN URL)."""
    return [
        item["media"]["url"]
        for component in layout_components(message)
        if component.get("type") == MEDIA_GALLERY
        for item in component["items"]
    ]


def job_id_of(message: Any) -> str:
    """The job id from a status or clip message's footer (`Job ABCD2345`)."""
    found = JOB_FOOTER.search(layout_text(message))
    assert found is not None, f"no job footer on {message!r}"
    return found["job"]
