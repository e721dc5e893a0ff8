"""A preview channel with many clips in it, ordered by its own member: for `bench preview` and the browser test.

The clips are real jobs, ordered with `/generate` and delivered by the bot, so the page
shows what a channel looks like after a busy while. To order them all at once the
member's quotas and the demo's concurrency are raised to the number of clips.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.domain.jobs import JobState
from bot.jobs.events import JobEvent
from bot.preview.session import PreviewSession
from bot.settings import Settings

CLIP_SECONDS = 2
MODEL_NAME = "demo"


def roomy_settings(settings: Settings, clips: int, folder: Path) -> Settings:
    """`settings` with room for `clips` jobs from one member at once (the catalog file goes in `folder`)."""
    room = max(clips, 1)
    catalog = folder / "footage.toml"
    catalog.write_text(
        f'[models.{MODEL_NAME}]\nbackend = "demo"\ndurations = [{CLIP_SECONDS}, 4]\n'
        f'aspects = ["16:9"]\nmax_concurrency = {room}\n'
    )
    seconds = room * CLIP_SECONDS * 2  # room for the clips and as many again, ordered later
    return settings.model_copy(
        update={
            "footage_config": catalog,
            "default_daily_seconds": seconds,
            "default_monthly_seconds": seconds,
            "default_max_queued": room,
            "default_max_running": room,
            "guild_max_running": room,
        }
    )


async def fill_channel(session: PreviewSession, clips: int, *, timeout: float) -> None:
    """Order `clips` clips as "you" and return once every one is delivered (raises if one fails)."""
    services = session.bot.footage
    assert services is not None, "the preview's bot is set up"
    world = session.world
    delivered: set[str] = set()
    failed: list[str] = []
    all_in = asyncio.Event()

    def on_event(event: JobEvent) -> None:
        job = event.job
        if not job.state.finished:
            return
        if job.state is JobState.DELIVERED:
            delivered.add(job.id)
        else:
            failed.append(f"job {job.id} {job.state.value}: {job.failure_detail or job.failure}")
        if len(delivered) + len(failed) >= clips:
            all_in.set()

    if clips == 0:
        return
    unsubscribe = services.core.events.subscribe(on_event)
    try:
        for index in range(clips):
            await world.you.slash(world.channel, "generate", prompt=f"example clip {index + 1}", seconds=CLIP_SECONDS)
        await asyncio.wait_for(all_in.wait(), timeout)
    finally:
        unsubscribe()
    if failed:
        raise RuntimeError(f"{len(failed)} of {clips} example clips failed: {'; '.join(failed)}")
