"""Helpers for the SimCord tests: the wait hook, real clips, the test world, ids from messages."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import simcord
from PIL import Image

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


def job_id_of(message: Any) -> str:
    """The job id from a status message's embed footer (`Job ABCD2345`)."""
    embeds = message.embeds
    assert embeds, f"no embed on {message!r}"
    footer = embeds[0].footer.text or ""
    assert footer.startswith("Job "), footer
    return footer.removeprefix("Job ")
