"""Providers that misbehave on purpose: slow, endless, oversized, malformed, redirecting, echoing keys.

Every limit here is the shared client's, so every backend has it. The `asyncio.timeout`
around each call is a liveness bound (the test fails instead of hanging without the
limit under test), not a speed figure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.backends.base import BackendError, BackendErrorKind, BackendJob
from bot.backends.fal import FalBackend
from bot.backends.http import MAX_BODY_BYTES, HttpTimeouts, ProviderHttp, Retry, RetryPolicy

from .servers.raw import RawServer, answer, dribbled_headers, endless_body, json_answer, redirect

Kind = BackendErrorKind
ONCE = RetryPolicy(attempts=1, wait_initial=0.01, wait_max=0.01, wait_jitter=0.0, timeout=5.0)
# Every read would succeed: only a wall-clock limit can end these requests.
QUICK = HttpTimeouts(connect=1.0, read=5.0, write=1.0, pool=1.0, total=1.0, download=1.0)
LIVENESS = 30.0
FAL_KEY = "7c1e2a90-key-id-4b7d:9f8e7d6c5b4a39281726secret"


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    async with RawServer().running() as server:
        yield server


def client(server: RawServer, **options: Any) -> ProviderHttp:
    return ProviderHttp(
        "x",
        base_url=options.pop("base_url", server.base_url),
        wait=_direct,
        timeouts=options.pop("timeouts", QUICK),
        retry=ONCE,
        **options,
    )


async def _direct(awaitable: Any, reason: str) -> Any:
    return await awaitable


async def _send_json(http: ProviderHttp, path: str) -> BackendError:
    try:
        async with asyncio.timeout(LIVENESS):
            with pytest.raises(BackendError) as caught:
                await http.send_json("GET", path, reason="poll", retry=Retry.IDEMPOTENT)
    finally:
        await http.aclose()
    return caught.value


async def test_headers_dribbled_a_byte_at_a_time_end_at_the_request_deadline(raw: RawServer) -> None:
    raw.routes["/status"] = dribbled_headers(every=0.02)
    error = await _send_json(client(raw), "status")
    assert error.kind is Kind.TIMEOUT
    assert "within 1 s" in error.provider_message


async def test_a_body_dribbled_forever_ends_at_the_request_deadline(raw: RawServer) -> None:
    raw.routes["/status"] = endless_body(b" ", every=0.02)
    error = await _send_json(client(raw), "status")
    assert error.kind is Kind.TIMEOUT


async def test_an_oversized_json_body_is_refused_at_the_cap(raw: RawServer) -> None:
    raw.routes["/status"] = endless_body(b"[" * 65536, every=0.0)
    error = await _send_json(client(raw, timeouts=HttpTimeouts(total=20.0)), "status")
    assert error.kind is Kind.BAD_RESPONSE
    assert f"larger than {MAX_BODY_BYTES // 1024**2} MiB" in error.provider_message


async def test_a_declared_oversized_error_body_is_refused_unread(raw: RawServer) -> None:
    async def huge(writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 500 X\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode() + b"x" * 1000)

    raw.routes["/status"] = huge
    error = await _send_json(client(raw), "status")
    assert error.kind is Kind.BAD_RESPONSE


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[]", "with []"),
        (b"null", "with null"),
        (b"{not json", "not JSON"),
        (json.dumps({"detail": "Upstream quota exhausted"}).encode(), "with an error: Upstream quota exhausted"),
    ],
)
async def test_malformed_status_bodies_each_get_their_own_reason(raw: RawServer, body: bytes, words: str) -> None:
    raw.routes["/owner/app/requests/r1/status"] = answer(200, body, {"Content-Type": "application/json"})
    backend = FalBackend(SecretStr(FAL_KEY), "owner/app", queue_url=raw.base_url, timeouts=QUICK, retry=ONCE)
    job = BackendJob("r1", {"status_url": f"{raw.base_url}/owner/app/requests/r1/status"})
    try:
        with pytest.raises(BackendError) as caught:
            await backend.poll(job)
    finally:
        await backend.aclose()
    assert caught.value.kind is Kind.BAD_RESPONSE
    assert not caught.value.retryable
    assert words in caught.value.provider_message


async def test_both_halves_of_a_fal_key_are_redacted_from_provider_text(raw: RawServer) -> None:
    key_id, key_secret = FAL_KEY.split(":")
    echo = f"bad credentials {key_id} / {key_secret}"
    raw.routes["/owner/app/requests/r1/status"] = json_answer({"status": "COMPLETED", "error": echo})
    backend = FalBackend(SecretStr(FAL_KEY), "owner/app", queue_url=raw.base_url, timeouts=QUICK, retry=ONCE)
    job = BackendJob("r1", {"status_url": f"{raw.base_url}/owner/app/requests/r1/status"})
    try:
        result = await backend.poll(job)
    finally:
        await backend.aclose()
    assert result.error is not None
    text = result.error.provider_message
    assert key_id not in text and key_secret not in text
    assert "bad credentials *** / ***" in text

    raw.routes["/submit"] = json_answer({"detail": echo}, status=400)
    http = client(raw, secrets=[FAL_KEY])
    try:
        with pytest.raises(BackendError) as caught:
            await http.send("POST", "submit", reason="submit", retry=Retry.NEVER)
    finally:
        await http.aclose()
    assert key_id not in str(caught.value) and key_secret not in str(caught.value)


async def test_an_html_error_page_is_reduced_to_its_title(raw: RawServer) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><script>alert(1)</script></body></html>"
    raw.routes["/status"] = answer(502, page, {"Content-Type": "text/html"})
    error = await _send_json(client(raw), "status")
    assert error.kind is Kind.UNAVAILABLE
    assert error.provider_message == "502 Bad Gateway"


async def test_api_redirects_are_not_followed(raw: RawServer) -> None:
    async with RawServer().running() as other:
        other.routes["/status"] = json_answer({"status": "COMPLETED"})
        raw.routes["/status"] = redirect(f"{other.base_url}/status")
        error = await _send_json(client(raw), "status")
        assert error.kind is Kind.BAD_RESPONSE
        assert other.requests == []


async def test_a_result_redirect_is_not_followed_unless_the_backend_needs_it(raw: RawServer, tmp_path: Path) -> None:
    async with RawServer().running() as other:
        other.routes["/clip.mp4"] = answer(200, b"x" * 10)
        raw.routes["/clip.mp4"] = redirect(f"{other.base_url}/clip.mp4")
        http = client(raw)
        try:
            with pytest.raises(BackendError) as caught:
                await http.download(f"{raw.base_url}/clip.mp4", tmp_path / "a.mp4", 1000)
        finally:
            await http.aclose()
        assert caught.value.kind is Kind.BAD_OUTPUT
        assert "redirects" in caught.value.provider_message
        assert other.requests == []
        assert not (tmp_path / "a.mp4").exists()

        # A backend configured on loopback (ComfyUI) whose flow redirects may follow it there.
        http = client(raw, follow_download_redirects=True)
        try:
            with pytest.raises(BackendError) as caught:
                await http.download(f"{raw.base_url}/clip.mp4", tmp_path / "a.mp4", 1000)
        finally:
            await http.aclose()
        assert caught.value.kind is Kind.BAD_OUTPUT  # followed, then probed: ten bytes are no video
        assert [path for path, _ in other.requests] == ["/clip.mp4"]


async def test_a_hosted_backend_never_fetches_from_a_loopback_address(raw: RawServer, tmp_path: Path) -> None:
    raw.routes["/clip.mp4"] = answer(200, b"x" * 10)
    http = client(raw, base_url="https://queue.fal.run", follow_download_redirects=True)
    try:
        with pytest.raises(BackendError) as caught:
            await http.download(f"{raw.base_url}/clip.mp4", tmp_path / "a.mp4", 1000)
    finally:
        await http.aclose()
    assert caught.value.kind is Kind.BAD_OUTPUT
    assert "loopback or private" in caught.value.provider_message
    assert raw.requests == []


async def test_a_video_dribbled_forever_ends_at_the_download_deadline(raw: RawServer, tmp_path: Path) -> None:
    raw.routes["/clip.mp4"] = endless_body(b"\x00" * 16, every=0.02, content_type="video/mp4")
    http = client(raw)
    dest = tmp_path / "a.mp4"
    try:
        async with asyncio.timeout(LIVENESS):
            with pytest.raises(BackendError) as caught:
                await http.download(f"{raw.base_url}/clip.mp4", dest, 10**9)
    finally:
        await http.aclose()
    assert caught.value.kind is Kind.TIMEOUT
    assert not dest.exists()


async def test_a_video_without_a_length_past_the_cap_is_reported_too_large(raw: RawServer, tmp_path: Path) -> None:
    raw.routes["/clip.mp4"] = endless_body(b"\x00" * 65536, every=0.0, content_type="video/mp4")
    http = client(raw, timeouts=HttpTimeouts(download=20.0))
    dest = tmp_path / "a.mp4"
    try:
        async with asyncio.timeout(LIVENESS):
            with pytest.raises(BackendError) as caught:
                await http.download(f"{raw.base_url}/clip.mp4", dest, 1024 * 1024)
    finally:
        await http.aclose()
    assert caught.value.kind is Kind.TOO_LARGE
    assert "larger than the bot's download limit" in str(caught.value)
    assert not dest.exists()
