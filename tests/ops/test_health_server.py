"""The metrics server on its own: off by default, readiness naming what is missing, a stuck loop, Discord's HTTP."""

from __future__ import annotations

import threading

import aiohttp
import httpx
import pytest
from aiohttp import web

from bot import metrics
from bot.backends.base import BackendError, await_directly
from bot.backends.http import ProviderHttp, Retry
from bot.health_server import ready_when, serving
from bot.settings import Settings
from tests.backends.harness import FAST_RETRY, TIMEOUTS
from tests.ops.scrape import scrape


def settings(**changes: object) -> Settings:
    return Settings(_env_file=None, **changes)  # type: ignore[call-arg]


async def test_metrics_are_off_unless_a_port_is_set() -> None:
    async with serving(settings(), parts=("database",)) as server:
        assert server is None


async def test_readyz_names_each_part_that_is_not_ready() -> None:
    async def database_down() -> bool:
        raise OSError("disk I/O error")

    unregister = ready_when("database", database_down)
    try:
        async with serving(settings(metrics_port=0), parts=("discord", "database")) as server:
            assert server is not None and server.host == "127.0.0.1"
            async with httpx.AsyncClient(timeout=10) as client:
                ready = await client.get(f"{server.url}/readyz")
                missing = await client.get(f"{server.url}/nothing-here")
    finally:
        unregister()
    assert ready.status_code == 503
    assert ready.json() == {
        "ready": False,
        "not_ready": {"discord": "not started", "database": "OSError: disk I/O error"},
    }
    assert missing.status_code == 404


async def test_livez_fails_while_the_event_loop_is_blocked() -> None:
    async with serving(settings(metrics_port=0), parts=()) as server:
        assert server is not None
        answers: list[httpx.Response] = []
        released = threading.Event()

        def probe() -> None:
            try:
                answers.append(httpx.get(f"{server.url}/livez", timeout=30))
            finally:
                released.set()

        async with httpx.AsyncClient(timeout=10) as client:
            healthy = await client.get(f"{server.url}/livez")
        thread = threading.Thread(target=probe)
        thread.start()
        # Block the loop (as a long synchronous call would) until the probe has its answer.
        released.wait(30)
        thread.join()
    assert healthy.status_code == 200 and healthy.json()["live"] is True
    assert answers and answers[0].status_code == 503
    assert answers[0].json()["live"] is False


async def test_discord_errors_and_rate_limits_are_counted_by_route_class() -> None:
    """A loopback server answering as Discord's REST API does; the trace is the one the bot hands discord.py."""
    channel = "/api/v10/channels/123456789012345678/messages"
    callback = "/api/v10/interactions/123456789012345678/aW50ZXJhY3Rpb246dG9rZW4/callback"
    replies = {channel: [429, 404, 200], callback: [204]}

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=replies[request.path].pop(0))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with serving(settings(metrics_port=0), parts=()) as server:
        assert server is not None
        before = await scrape(server.url)
        try:
            async with aiohttp.ClientSession(trace_configs=[metrics.discord_http_trace()]) as session:
                for path in (channel, channel, channel, callback):
                    async with session.post(f"http://127.0.0.1:{port}{path}") as response:
                        await response.read()
        finally:
            await runner.cleanup()
        after = await scrape(server.url)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("footage_discord_rate_limited_total", route="messages") == 1
    assert grew("footage_discord_http_errors_total", route="messages", status="429") == 1
    assert grew("footage_discord_http_errors_total", route="messages", status="404") == 1
    assert grew("footage_discord_http_errors_total", route="interaction", status="204") == 0
    # No id or token ever becomes a label.
    assert not any("123456789012345678" in str(key) or "aW50" in str(key) for key in after.samples)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/v10/channels/1234567890123456789/messages/1234567890123456789", "messages"),
        ("/api/v10/webhooks/1234567890123456789/tok.en-_/messages/@original", "webhook"),
        ("/api/v10/applications/1234567890123456789/guilds/1234567890123456789/commands", "commands"),
        ("/api/v10/channels/1234567890123456789", "channels"),
        ("/api/v10/users/@me", "users"),
        ("/api/v10/oauth2/applications/@me", "other"),
    ],
)
def test_route_classes(path: str, route: str) -> None:
    assert metrics.route_class(path) == route


async def test_provider_request_errors_are_counted_per_attempt() -> None:
    labels = {"backend": "probe", "kind": "unavailable"}
    before = metrics.REGISTRY.get_sample_value("footage_provider_request_errors_total", labels) or 0.0
    http = ProviderHttp(
        "probe", base_url="http://127.0.0.1:9", wait=await_directly, timeouts=TIMEOUTS, retry=FAST_RETRY
    )
    try:
        with pytest.raises(BackendError):
            await http.send("POST", "jobs", json={}, reason="submit", retry=Retry.UNDELIVERED)
    finally:
        await http.aclose()
    after = metrics.REGISTRY.get_sample_value("footage_provider_request_errors_total", labels)
    assert after == before + FAST_RETRY.attempts
