"""A misbehaving HTTP/1.1 server on a real loopback socket, written byte by byte.

aiohttp always answers well-formed and promptly; these answers are not: headers
dribbled a byte at a time, bodies without a length that never end, redirects.
Each route is an async function that writes the raw answer itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

Route = Callable[[asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1].split("?")[0]
            headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            if length := int(headers.get("Content-Length", headers.get("content-length", "0"))):
                await reader.readexactly(length)
            self.requests.append((path, headers))
            route = self.routes.get(path)
            if route is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                await route(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RawServer]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        try:
            yield self
        finally:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            for task in list(self._handlers):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._server.wait_closed()


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Route:
    async def route(writer: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return route


def json_answer(body: Any, status: int = 200) -> Route:
    return answer(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def dribbled_headers(every: float) -> Route:
    """A status line and headers sent one byte at a time, forever: each read succeeds."""

    async def route(writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100_000
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)

    return route


def endless_body(chunk: bytes, every: float, content_type: str = "application/json") -> Route:
    """A chunked body that never ends: `chunk` every `every` seconds."""

    async def route(writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        while True:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            await asyncio.sleep(every)

    return route


def redirect(location: str) -> Route:
    return answer(302, b"", {"Location": location})
