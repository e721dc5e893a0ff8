"""A scripted fake provider on a real loopback socket (aiohttp), plus result files.

Each fake answers like its provider's documented API and is strict about auth and
required fields. Tests queue `Reply`s per route to inject failures; a reply with
`status=0` only delays, then the route answers normally (an accepted-but-slow call).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.backends.base import BackendErrorKind as Kind

NOT_A_VIDEO = b"<html><body>Access denied</body></html>\n" * 20


@dataclass
class Reply:
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class HarnessTraits:
    """What the shared scenarios expect of one provider where providers differ."""

    queue_position: int | None
    progress: float | None
    rejected_kind: Kind
    out_of_credit: Reply | None  # None: the provider has no account balance
    invalid: Reply | None = None  # None: the fake refuses an empty prompt on its own
    idempotent: bool = False
    # The states a job passes through, each once or more, in this order.
    states: tuple[str, ...] = ("queued", "running", "succeeded")
    seconds: int = 5  # a clip length the provider takes


class FakeProvider:
    auth_header = "Authorization"

    def __init__(self, video: bytes, expected_auth: str | None) -> None:
        self.video = video
        self.expected_auth = expected_auth
        self.app = web.Application()
        self.received: Counter[str] = Counter()
        self.accepted_submits = 0
        self.bodies: list[Any] = []
        self.script: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self.result_file = "clip.mp4"
        self.range_support = True
        self.cut_downloads = 0  # how many downloads to cut halfway
        self.download_ranges: list[str | None] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self.app.router.add_get("/files/{name}", self.serve_file)

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting --------------------------------------------------------
    def queue_replies(self, key: str, *replies: Reply) -> None:
        self.script[key].extend(replies)

    def unauthorized(self) -> web.Response:
        return web.json_response({"detail": "Invalid token"}, status=401)

    async def intercept(self, key: str, request: web.Request) -> web.Response | None:
        """Count the call, enforce auth, then play a scripted reply if one is queued."""
        self.received[key] += 1
        if self.expected_auth is not None and request.headers.get(self.auth_header) != self.expected_auth:
            return self.unauthorized()
        if self.script[key]:
            reply = self.script[key].popleft()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.status:
                if isinstance(reply.body, str | bytes):
                    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
                return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return None

    def file_url(self, name: str | None = None) -> str:
        return f"{self.base_url}/files/{name or self.result_file}"

    # -- result files -----------------------------------------------------
    def file_bytes(self, name: str) -> bytes | None:
        return {
            "clip.mp4": self.video,
            "truncated.mp4": self.video[: len(self.video) // 2],
            "text.mp4": NOT_A_VIDEO,
        }.get(name)

    async def serve_file(self, request: web.Request) -> web.StreamResponse:
        return await self.send_file(request, request.match_info["name"])

    async def send_file(self, request: web.Request, name: str) -> web.StreamResponse:
        self.received["download"] += 1
        if request.headers.get("Authorization") or request.headers.get(self.auth_header):
            # A CDN must never see the API key.
            return web.Response(status=400, text=f"unexpected {self.auth_header} header")
        data = self.file_bytes(name)
        if data is None:
            # What an expired signed URL answers on S3/GCS-style storage.
            return web.Response(status=403, text="<Error><Code>AccessDenied</Code>Request has expired</Error>")
        self.download_ranges.append(request.headers.get("Range"))
        start = 0
        status = 200
        headers = {"Content-Type": "video/mp4"}
        if self.range_support:
            headers["Accept-Ranges"] = "bytes"
            if (spec := request.headers.get("Range", "")).startswith("bytes="):
                start = int(spec.removeprefix("bytes=").split("-")[0])
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        if self.cut_downloads:
            self.cut_downloads -= 1
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-body
            return response
        await response.write(body)
        await response.write_eof()
        return response


class JobBook:
    """Per-job progress through a provider's states, one step per poll."""

    def __init__(self) -> None:
        self.polls: Counter[str] = Counter()
        self.canceled: set[str] = set()
        self.outcome = "success"  # or "rejected", "failed"

    def step(self, job_id: str) -> int:
        self.polls[job_id] += 1
        return self.polls[job_id]
