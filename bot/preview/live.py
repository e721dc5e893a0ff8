"""The preview's reliance on SimCord internals (simcord==3.2.1, pinned in pyproject).

The one other is how the bot's background work is started untracked, beside the
wait hook in `bot/discord_glue/simcord_host.py`. Three things SimCord's public API
does not offer for a long-running preview:

1. Live pages. The page polls `/api/state` every 500 ms but the server only rebuilds a
   page's snapshot when something *publishes* it (an action from the page, or the
   public `Preview.refresh()`). `refresh()` first *settles* all bot work and holds
   SimCord's operation guard while doing so, and a click arriving meanwhile fails with
   "operation overlaps" (with a refresh every second while jobs run, many would). So we
   republish each page with `Preview._publish(page, reason="refresh")` — the same
   step `refresh()` ends with, minus the settle — and skip it while a page action is
   in flight (that action publishes when it ends). Every publish is a new revision,
   and SimCord refuses an action made on an older one ("Action was not completed"):
   a send, a click, even the page's own first request when it opened just before a
   refresh. So an action made on a revision that only these refreshes replaced is
   admitted at the current one (`Preview._action`, wrapped): the person acted on
   what the bot had shown, and SimCord still checks its target against the messages
   as they are now. After anything else published the page, the check stands.
2. Message ids that never repeat, and one clock. SimCord's clock starts at 2026-01-01 on every run
   and snowflakes come from it, so a fresh world would hand out the very message ids
   that job rows in the persistent preview database still point at. Moving the
   simulated clock to the wall clock once, before the bot connects, makes new ids
   larger than any earlier run's (`Backend.clock.advance`). The clock keeps following
   the wall clock afterwards, and the bot reads it (`WallFollowingClock`), so message
   times, the page's "now" and the bot's job times are one clock.

3. The bot's name. SimCord names every bot "TestBot"; the preview renames it before the
   bot connects (`Backend.bot_user`), so the page shows the product's name.

4. Clip checks. The page plays a video only after SimCord's media worker checked it,
   one at a time, each in a new Python process (0.5-0.8 s for a 2 s demo clip on this
   machine, 0.14-0.22 s of it the check itself). The preview's clips are its own WebM
   renders, so `check_webm_in_process` has the worker check WebM in a thread of this
   process with the same function the child process runs (`_media._process_media`);
   anything else (a member's upload, any other video) still goes to the child process
   with its memory limit.

5. Markdown parsers. Every publish renders each message's text through a Markdown
   parser, and SimCord builds a new parser (with its link finder's patterns compiled
   anew) for every piece of text: about half of a publish's time, which grows with
   the messages in the channel. `reuse_markdown_parsers` keeps the parsers it built,
   per field policy and reference context, the only inputs they depend on.

If SimCord changes these internals, `supports_republish()` turns false and the
preview falls back to the public `refresh()` while no action is running; without the
media worker's hooks, clips are checked in child processes as before.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import simcord
from simcord.preview import _markdown, _media

from bot.jobs.events import JobEvent

log = logging.getLogger(__name__)

# A publish rebuilds every message of the page, so publish only when the bot changed
# something, and at most this often.
MIN_INTERVAL = 1.0
# At most this share of the event loop's time goes to republishing while jobs run.
PUBLISH_SHARE = 0.25
# Status edits are coalesced (the bot's edit interval) and the clip is posted after the
# last state change: keep republishing a little after the last job event.
LINGER = 5.0
# How far SimCord's clock may fall behind the wall between two moves (see `follow_the_wall`).
FOLLOW_EVERY = 0.1
# Markdown parsers kept (one per field policy and reference context; a message's context
# names the users, roles, channels and emoji it mentions).
MARKDOWN_PARSERS = 512
# Every WebM (Matroska) file starts with this EBML header id.
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def align_clock_to_wall(env: simcord.Env) -> None:
    """Move SimCord's simulated clock forward to now (never back); call before `env.start()`."""
    clock: Any = env.backend.clock
    ahead = (datetime.now(UTC) - clock.now()).total_seconds()
    if ahead > 0:
        clock.advance(ahead)


async def follow_the_wall(env: simcord.Env, every: float = FOLLOW_EVERY) -> None:
    """Keep SimCord's clock on the wall clock while the preview runs, even while the bot reads no time.

    An interaction must be answered within 3 s of SimCord's clock at its creation. With
    the clock moved only when the bot read it, a command sent after the preview sat idle
    was created at a stale time; the bot's first clock read then moved the clock to now,
    past that deadline, and the answer was refused as expired.
    """
    while True:
        align_clock_to_wall(env)
        await asyncio.sleep(every)


class WallFollowingClock:
    """The bot's clock in the preview, and SimCord's: one clock, following the wall.

    Message times and the page's "now" come from SimCord's simulated clock, job times
    from the bot's. If they differ, "asked 5 minutes ago" reads "in 5 minutes". So the
    bot reads SimCord's clock, moving it up to the wall clock first (never back).
    Until the environment exists, it is the wall clock.
    """

    def __init__(self) -> None:
        self.env: simcord.Env | None = None

    def __call__(self) -> datetime:
        if self.env is None:
            return datetime.now(UTC)
        align_clock_to_wall(self.env)
        now: datetime = self.env.backend.clock.now()
        return now


def name_bot(env: simcord.Env, name: str) -> None:
    """Rename SimCord's bot account (cosmetic); call before `env.start()`."""
    user: Any = getattr(env.backend, "bot_user", None)
    if user is not None:
        user.name = name


class _WebmInProcessWorker(_media.MediaWorker):
    """SimCord's media worker (one check at a time, cached), checking WebM in a thread instead of a child process."""

    async def _decode(self, key: str, blob: bytes, media_time: float | None) -> Any:
        if not blob.startswith(WEBM_MAGIC):
            return await super()._decode(key, blob, media_time)
        async with self._lock:
            try:
                info = await asyncio.to_thread(_media._process_media, blob, media_time)
            except _media.MediaError as error:
                if key not in self._released:
                    self._cache[key] = error  # a verdict on the content, kept like the worker's
                raise
        if key not in self._released:
            self._cache.pop(key, None)
        return info


def check_webm_in_process(preview: simcord.Preview) -> bool:
    """Give the preview a media worker that checks WebM in-process (see 4. above); False if SimCord changed."""
    worker: Any = _media.MediaWorker
    if not (hasattr(preview, "_media_worker") and hasattr(worker, "_decode") and hasattr(_media, "_process_media")):
        log.warning("this SimCord version lacks the media worker hooks; clips are checked in child processes")
        return False
    target: Any = preview
    target._media_worker = _WebmInProcessWorker()
    return True


def reuse_markdown_parsers() -> bool:
    """Have SimCord reuse its Markdown parsers (see 5. above); False if SimCord changed. Idempotent."""
    build: Any = getattr(_markdown, "_markdown_parser", None)
    if build is None:
        log.warning("this SimCord version lacks its Markdown parser hook; every publish builds parsers")
        return False
    if getattr(build, "reused", False):
        return True

    @functools.lru_cache(maxsize=MARKDOWN_PARSERS)
    def built(policy: tuple[tuple[str, bool | str], ...], context: str) -> Any:
        return build(dict(policy), json.loads(context))

    def reused(policy: Any, context: Any) -> Any:
        try:
            key = json.dumps(context, sort_keys=True)
        except TypeError:  # a context that is not plain data: build its parser as SimCord does
            return build(policy, context)
        return built(tuple(sorted(policy.items())), key)

    reused.reused = True  # type: ignore[attr-defined]
    target: Any = _markdown
    target._markdown_parser = reused
    return True


def supports_republish(preview: simcord.Preview) -> bool:
    return all(hasattr(preview, name) for name in ("_publish", "_pages", "_active_action", "_closed", "_action"))


class LiveRefresher:
    """While jobs change, republishes the pages when the bot changed something, at most every `min_interval` s."""

    def __init__(
        self, env: simcord.Env, preview: simcord.Preview, *, min_interval: float = MIN_INTERVAL, linger: float = LINGER
    ) -> None:
        self._env = env
        self._preview = preview
        self._min_interval = min_interval
        self._linger = linger
        self._last_event = -float("inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Every REST call the bot made (public `Env.http_requests`): when it grows, a message
        # was posted or edited and the pages are out of date.
        self._seen_requests = len(env.http_requests)
        self._republish = supports_republish(preview)
        self.published = 0
        # Per page: the revision it had before the refreshes published since, and the last of them.
        self._refreshed: dict[str, tuple[int, int]] = {}
        # Per page: the last action admitted across refreshes, and the revision it was admitted at.
        self._carried: dict[str, tuple[object, int]] = {}
        if self._republish:
            target: Any = preview
            self._admit = target._action
            target._action = self._action
        else:
            log.warning("this SimCord version lacks the republish hook; live updates use Preview.refresh()")

    def on_job_event(self, event: JobEvent) -> None:
        """EventBus listener: synchronous and non-blocking, it only marks the pages stale."""
        self._last_event = time.monotonic()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="preview-live-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while time.monotonic() - self._last_event < self._linger:
                requests = len(self._env.http_requests)
                started = time.perf_counter()
                if requests != self._seen_requests and await self._publish_once():
                    self._seen_requests = requests
                # A publish blocks the event loop (it rebuilds every message of the page): keep
                # it to a share of the time, so the page's own requests and actions get through.
                spent = time.perf_counter() - started
                await asyncio.sleep(max(self._min_interval, spent * (1 / PUBLISH_SHARE - 1)))

    async def _publish_once(self) -> bool:
        """True when the pages were republished; False to try again on the next tick."""
        preview: Any = self._preview
        try:
            if self._republish:
                if preview._closed or preview._active_action is not None:
                    return False
                align_clock_to_wall(self._env)  # the page's "now" is SimCord's clock: keep it the wall's
                if hasattr(preview, "_advance_presentation_time"):
                    preview._advance_presentation_time()  # so "today at …" stamps stay current
                for page in tuple(preview._pages.values()):
                    # A publish may prune expired pages; SimCord's own Python page has no viewer.
                    if page.id in preview._pages and page is not getattr(preview, "_python", None):
                        before = page.revision
                        preview._publish(page, reason="refresh")
                        since = self._refreshed.get(page.id)
                        first = since[0] if since is not None and since[1] == before else before
                        self._refreshed[page.id] = (first, page.revision)
            else:
                await preview.refresh()
        except simcord.SetupError as error:
            # Closed or busy: the next tick catches up.
            log.debug("preview republish skipped: %s", error)
            return False
        self.published += 1
        return True

    async def _action(self, context_id: Any, body: Any) -> Any:
        """SimCord's page action, admitted at the current revision if only refreshes replaced its own (see 1.)."""
        return await self._admit(context_id, self._across_refreshes(context_id, body))

    def _across_refreshes(self, context_id: Any, body: Any) -> Any:
        preview: Any = self._preview
        page = preview._pages.get(context_id) if isinstance(context_id, str) else None
        if page is None or not isinstance(body, dict):
            return body
        request = body.get("request_id")
        carried = self._carried.get(page.id)
        if carried is not None and carried[0] == request:  # the page sending the same action again
            return {**body, "published_revision": carried[1]}
        made_on = body.get("published_revision")
        refreshed = self._refreshed.get(page.id)
        if (
            type(made_on) is not int
            or refreshed is None
            or refreshed[1] != page.revision
            or not refreshed[0] <= made_on < page.revision
        ):
            return body
        self._carried[page.id] = (request, page.revision)
        return {**body, "published_revision": page.revision}
