"""Discord's REST API on loopback, reduced to what a worker process uses, for the real discord.py client.

Serves the two requests of `Client.login` (the bot user, the application), posting a
message (JSON or multipart with `payload_json`, as discord.py sends a file) with the
nonce enforced as Discord does for `enforce_nonce` (a repeat gets the first message
back), and editing a message. It records every request with its arrival time, and
can answer a route with 429s first (with `Via`, as Discord's edge does: discord.py
treats a 429 without it as a ban). Point discord.py at it by setting
`discord.http.Route.BASE` to `api_base`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, web

BOT_ID = 4242
APPLICATION_ID = 4343
API_PREFIX = "/api/v10"


@dataclass(frozen=True, slots=True)
class Arrival:
    method: str
    path: str
    at: float  # time.monotonic() on arrival
    status: int


@dataclass(slots=True)
class StoredMessage:
    id: int
    channel_id: int
    body: dict[str, Any]
    files: list[str]
    edits: list[dict[str, Any]] = field(default_factory=list)


class DiscordRestStandIn:
    def __init__(self, *, answer_delay: float = 0.0) -> None:
        self.answer_delay = answer_delay
        self.arrivals: list[Arrival] = []
        self.messages: dict[int, StoredMessage] = {}
        self.posts: list[tuple[str | None, int, bool]] = []  # (nonce, message id, new)
        self._by_nonce: dict[tuple[int, str], int] = {}
        self._next_id = 7_000_000
        # route key ("POST messages", "PATCH messages") -> 429s still to answer, and how
        self._limits: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_get(f"{API_PREFIX}/users/@me", self.me)
        self.app.router.add_get(f"{API_PREFIX}/oauth2/applications/@me", self.application)
        self.app.router.add_post(f"{API_PREFIX}/channels/{{channel}}/messages", self.create_message)
        self.app.router.add_patch(f"{API_PREFIX}/channels/{{channel}}/messages/{{message}}", self.edit_message)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def rate_limit_next(self, route: str, count: int, *, retry_after: float, is_global: bool = False) -> None:
        """Answer the next `count` requests of `route` ("POST messages" or "PATCH messages") with 429."""
        self._limits[route].extend([(retry_after, is_global)] * count)

    def _arrive(self, request: web.Request, status: int) -> None:
        self.arrivals.append(Arrival(request.method, request.path, time.monotonic(), status))

    def _limited(self, request: web.Request, route: str) -> web.Response | None:
        pending = self._limits.get(route)
        if not pending:
            return None
        retry_after, is_global = pending.pop(0)
        self._arrive(request, 429)
        headers = {"Via": "1.1 google", "Retry-After": str(max(int(retry_after), 1))}
        headers["X-RateLimit-Scope"] = "global" if is_global else "user"
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return _json(body, status=429, headers=headers)

    async def me(self, request: web.Request) -> web.Response:
        self._arrive(request, 200)
        return _json(_user(BOT_ID, "Footage Bot", bot=True))

    async def application(self, request: web.Request) -> web.Response:
        self._arrive(request, 200)
        return _json(
            {
                "id": str(APPLICATION_ID),
                "name": "Footage Bot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": _user(1, "owner"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def create_message(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request, "POST messages")) is not None:
            return limited
        body, files = await _read_body(request)
        channel = int(request.match_info["channel"])
        nonce = body.get("nonce")
        existing = self._by_nonce.get((channel, nonce)) if nonce is not None and body.get("enforce_nonce") else None
        new = existing is None
        if existing is None:
            self._next_id += 1
            existing = self._next_id
            self.messages[existing] = StoredMessage(existing, channel, body, files)
            if nonce is not None:
                self._by_nonce[(channel, nonce)] = existing
        self.posts.append((nonce, existing, new))
        self._arrive(request, 200)
        await asyncio.sleep(self.answer_delay)
        return _json(_message(self.messages[existing]))

    async def edit_message(self, request: web.Request) -> web.Response:
        if (limited := self._limited(request, "PATCH messages")) is not None:
            return limited
        body, _ = await _read_body(request)
        channel, message_id = int(request.match_info["channel"]), int(request.match_info["message"])
        stored = self.messages.get(message_id)
        if stored is None:  # a status message the gateway posted: known from here on
            stored = self.messages[message_id] = StoredMessage(message_id, channel, {}, [])
        stored.edits.append(body)
        self._arrive(request, 200)
        return _json(_message(stored))

    def most_in_one_second(self, method: str | None = None) -> int:
        """The most requests that arrived within any one second (a rate cap's lower bound on spacing)."""
        times = sorted(arrival.at for arrival in self.arrivals if method is None or arrival.method == method)
        most, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most


async def _read_body(request: web.Request) -> tuple[dict[str, Any], list[str]]:
    if request.content_type.startswith("multipart/"):
        body: dict[str, Any] = {}
        files: list[str] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                body = json.loads(await part.text())
            else:
                await part.read()
                files.append(part.filename or "")
        return body, files
    return await request.json(), []


def _json(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly `application/json`, as Discord sends it: discord.py reads anything else as text.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def _user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None, "bot": bot, "global_name": name}


def _message(stored: StoredMessage) -> dict[str, Any]:
    latest = {**stored.body}
    for edit in stored.edits:
        latest.update(edit)
    return {
        "id": str(stored.id),
        "channel_id": str(stored.channel_id),
        "type": 0,
        "content": latest.get("content") or "",
        "embeds": latest.get("embeds") or [],
        "components": latest.get("components") or [],
        "attachments": [
            {"id": str(index + 1), "filename": name, "size": 1, "url": "https://cdn/x", "proxy_url": "https://cdn/x"}
            for index, name in enumerate(stored.files)
        ],
        "timestamp": datetime.now(UTC).isoformat(),
        "edited_timestamp": None,
        "author": _user(BOT_ID, "Footage Bot", bot=True),
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "flags": latest.get("flags") or 0,
        "nonce": latest.get("nonce"),
    }
