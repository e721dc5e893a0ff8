"""The outside world of the crash test, living in the test process so it outlasts every kill.

`CrashFal` is the loopback fal fake, changed in two ways: a job finishes after a
short random time (not after N polls, since each restart polls at once), and every
answer that ends a bot step (submit, download) comes a little late, so a kill often
lands after the provider acted but before the bot wrote it down. `MessageBoard` is
Discord's channel-post endpoint reduced to what the deliverer relies on: a nonce it
enforces, so a repeated nonce gets the first message back instead of a new one.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass

from aiohttp import web

from tests.backends.servers.fal import FalFake

# Seconds a provider job takes, first in the queue then in progress.
RUN_SECONDS = (0.15, 0.6)
# Seconds between the server acting and its answer reaching the bot.
LATE_ANSWER = (0.01, 0.06)


class CrashFal(FalFake):
    """fal's queue API whose jobs finish on a clock, recording every submit by prompt."""

    def __init__(self, video: bytes, rng: random.Random) -> None:
        super().__init__(video)
        self.rng = rng
        self.submits: Counter[str] = Counter()  # prompt -> accepted submits
        self.request_ids: defaultdict[str, list[str]] = defaultdict(list)  # prompt -> provider request ids
        self._done_at: dict[str, tuple[float, float]] = {}  # request id -> (in progress at, completed at)

    async def submit(self, request: web.Request) -> web.Response:
        if (refused := await self.intercept("submit", request)) is not None:
            return refused
        body = await request.json()
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return web.json_response({"detail": [{"loc": ["body", "prompt"], "type": "missing"}]}, status=422)
        # Accepted (and billed) from here on, whether or not the answer reaches the bot.
        self.bodies.append(body)
        self.accepted_submits += 1
        self.submits[prompt] += 1
        job_id = str(uuid.uuid4())
        self.request_ids[prompt].append(job_id)
        now, run = time.monotonic(), self.rng.uniform(*RUN_SECONDS)
        self._done_at[job_id] = (now + run / 3, now + run)
        await asyncio.sleep(self.rng.uniform(*LATE_ANSWER))
        return self.accepted(request, job_id)

    async def status(self, request: web.Request) -> web.Response:
        if (scripted := await self.intercept("poll", request)) is not None:
            return scripted
        job_id = request.match_info["id"]
        if job_id not in self._done_at:
            return web.json_response({"detail": "Request not found"}, status=404)
        return web.json_response(self.status_body(job_id, 0))

    def status_body(self, job_id: str, step: int, *, logs: bool = False) -> dict[str, object]:
        """By the clock, for polls and the status stream alike."""
        started, done = self._done_at[job_id]
        now = time.monotonic()
        if now < started:
            return {"status": "IN_QUEUE", "queue_position": 1, "request_id": job_id}
        if now < done:
            return {"status": "IN_PROGRESS", "logs": [], "request_id": job_id}
        return {"status": "COMPLETED", "request_id": job_id, "logs": []}

    async def serve_file(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.rng.uniform(*LATE_ANSWER))
        return await super().serve_file(request)


@dataclass(frozen=True, slots=True)
class Post:
    job_id: str
    life: int  # pid of the bot process that posted
    nonce: str
    message_id: int
    new: bool  # False: the nonce was seen before and the first message came back


class MessageBoard:
    """`POST /channels/{id}/messages` with an enforced nonce, as Discord does for a bot's resend."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.posts: list[Post] = []
        self._by_nonce: dict[str, int] = {}
        self._next_id = 9_000_000
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_post("/channels/{channel}/messages", self.create_message)
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def create_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        nonce, job_id, life = str(body["nonce"]), str(body["job_id"]), int(body["life"])
        existing = self._by_nonce.get(nonce)
        new = existing is None
        if existing is None:
            self._next_id += 1
            existing = self._by_nonce[nonce] = self._next_id
        self.posts.append(Post(job_id, life, nonce, existing, new))
        # The message exists now; the answer may still be lost with the process that asked.
        await asyncio.sleep(self.rng.uniform(*LATE_ANSWER))
        return web.json_response({"id": str(existing), "channel_id": request.match_info["channel"], "nonce": nonce})

    def messages_per_job(self) -> dict[str, set[int]]:
        messages: defaultdict[str, set[int]] = defaultdict(set)
        for post in self.posts:
            messages[post.job_id].add(post.message_id)
        return dict(messages)
