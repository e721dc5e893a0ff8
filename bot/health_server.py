"""The metrics and health endpoints: `/metrics`, `/livez`, `/readyz` on METRICS_HOST:METRICS_PORT.

Served from a thread, not the event loop, so a stuck loop is reported (503 from
`/livez`) instead of simply not answering. `/livez` asks the loop to run a no-op
and times the answer; `/readyz` runs the registered readiness checks on the loop.

The parts of the bot register what "ready" means for them (`ready_when`): the
Discord client its connection, the core its database, the preview its page. Each
command says which parts it needs, and a part not registered yet is not ready.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from bot.metrics import REGISTRY
from bot.settings import Settings

log = logging.getLogger(__name__)

# The loop is live while it runs a callback within this many seconds (it answers
# Discord's heartbeats and interactions from that same loop; interactions have 3 s).
LOOP_LAG_LIMIT = 2.0
# How long one readiness check may take before it counts as not answering.
CHECK_TIMEOUT = 2.0

ReadyCheck = Callable[[], Awaitable[bool]]
_checks: dict[str, ReadyCheck] = {}


def ready_when(part: str, check: ReadyCheck) -> Callable[[], None]:
    """Register what makes `part` ready; the returned function unregisters it (on close)."""
    _checks[part] = check

    def unregister() -> None:
        if _checks.get(part) is check:
            del _checks[part]

    return unregister


async def readiness(parts: Iterable[str]) -> dict[str, str]:
    """What is not ready, part → why; empty when every part is ready."""
    problems: dict[str, str] = {}
    for part in parts:
        check = _checks.get(part)
        if check is None:
            problems[part] = "not started"
            continue
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                ready = await check()
        except TimeoutError:
            problems[part] = f"no answer within {CHECK_TIMEOUT:g} s"
            continue
        except Exception as error:  # a check that fails is a part that is not ready
            problems[part] = f"{type(error).__name__}: {error}"
            continue
        if not ready:
            problems[part] = "not ready"
    return problems


def loop_lag(loop: asyncio.AbstractEventLoop, limit: float) -> float | None:
    """Seconds the loop took to run a no-op, or None if it did not within `limit`."""
    ran = threading.Event()
    started = time.perf_counter()
    try:
        loop.call_soon_threadsafe(ran.set)
    except RuntimeError:  # the loop is closed
        return None
    if not ran.wait(limit):
        return None
    return time.perf_counter() - started


Response = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Health:
    loop: asyncio.AbstractEventLoop
    parts: tuple[str, ...]

    def livez(self) -> Response:
        lag = loop_lag(self.loop, LOOP_LAG_LIMIT)
        if lag is None:
            return "503 Service Unavailable", {"live": False, "loop": f"no answer within {LOOP_LAG_LIMIT:g} s"}
        return "200 OK", {"live": True, "loop_lag_seconds": round(lag, 6)}

    def readyz(self) -> Response:
        try:
            future = asyncio.run_coroutine_threadsafe(readiness(self.parts), self.loop)
            problems = future.result(CHECK_TIMEOUT * (len(self.parts) + 1))
        except (TimeoutError, RuntimeError):
            problems = {"loop": "the event loop did not answer"}
        if problems:
            return "503 Service Unavailable", {"ready": False, "not_ready": problems}
        return "200 OK", {"ready": True}


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not log lines
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _app(health: _Health) -> Callable[..., Iterable[bytes]]:
    metrics_app = make_wsgi_app(REGISTRY)
    endpoints = {"/livez": health.livez, "/readyz": health.readyz}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        endpoint = endpoints.get(path)
        if endpoint is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics, /livez or /readyz\n"]
        status, body = endpoint()
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode() + b"\n"]

    return app


@dataclass(frozen=True, slots=True)
class MetricsServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@asynccontextmanager
async def serving(settings: Settings, *, parts: Iterable[str]) -> AsyncIterator[MetricsServer | None]:
    """Serve the endpoints while the block runs, bound to the running loop; None when METRICS_PORT is unset.

    Every command that runs the bot wraps its run in this (`parts`: what must be ready).
    """
    if settings.metrics_port is None:
        yield None
        return
    health = _Health(asyncio.get_running_loop(), tuple(parts))
    server = make_server(
        settings.metrics_host, settings.metrics_port, _app(health), _ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="footage-metrics", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    address = MetricsServer(str(host), int(port))
    log.info("metrics and health on %s (/metrics, /livez, /readyz)", address.url)
    try:
        yield address
    finally:
        await asyncio.to_thread(server.shutdown)  # waits for the serving thread's next poll
        server.server_close()
