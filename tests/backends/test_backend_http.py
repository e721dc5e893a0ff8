"""The shared plumbing: classification, Retry-After, retry decisions, streaming downloads."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.backends.base import BackendError, BackendErrorKind
from bot.backends.fal import is_content_policy
from bot.backends.http import (
    ProviderHttp,
    Retry,
    _backoff_hook,
    classify_exception,
    classify_status,
    parse_retry_after,
    redact,
)

from .harness import FAST_RETRY, TIMEOUTS
from .servers.base import FakeProvider, Reply

Kind = BackendErrorKind


def test_retry_after_seconds_and_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"detail": "bad field"}, Kind.INVALID_REQUEST),
        (422, {"detail": [{"msg": "field required", "type": "missing"}]}, Kind.INVALID_REQUEST),
        (401, {"detail": "bad token"}, Kind.AUTH),
        (402, {"detail": "pay up"}, Kind.OUT_OF_CREDIT),
        (403, {"detail": "User is locked. Reason: Exhausted balance"}, Kind.OUT_OF_CREDIT),
        (403, {"error": "Insufficient funds"}, Kind.OUT_OF_CREDIT),
        (403, {"detail": "Forbidden"}, Kind.AUTH),
        (400, {"error": "You do not have enough credits to run this task."}, Kind.OUT_OF_CREDIT),
        (404, {"detail": "Model not found"}, Kind.MODEL_UNAVAILABLE),
        (408, "", Kind.TIMEOUT),
        (500, "oops", Kind.UNAVAILABLE),
        (502, "<html>", Kind.UNAVAILABLE),
        (503, "", Kind.UNAVAILABLE),
        (504, "", Kind.UNAVAILABLE),
    ],
)
def test_classify_status(status: int, body: Any, kind: Kind) -> None:
    error = classify_status(status, body, {})
    assert error.kind is kind
    assert error.status_code == status


def test_rate_limit_reads_the_header_or_replicates_words() -> None:
    assert classify_status(429, {}, {"retry-after": "12"}).retry_after == 12.0
    throttled = {"detail": "Request was throttled. Your rate limit resets in ~30s."}
    error = classify_status(429, throttled, {})
    assert error.kind is Kind.RATE_LIMITED
    assert error.retry_after == 30.0


def test_content_policy_rule_wins_over_invalid_request() -> None:
    body = {"detail": [{"msg": "flagged", "type": "content_policy_violation"}]}
    assert classify_status(422, body, {}, content_policy=is_content_policy).kind is Kind.CONTENT_POLICY
    assert classify_status(503, body, {}, content_policy=is_content_policy).kind is Kind.UNAVAILABLE


def test_exceptions() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/")
    assert classify_exception(httpx.ConnectError("refused", request=request)).kind is Kind.UNAVAILABLE
    assert classify_exception(httpx.ReadTimeout("slow", request=request)).kind is Kind.TIMEOUT
    assert classify_exception(httpx.ConnectTimeout("slow", request=request)).kind is Kind.TIMEOUT
    assert classify_exception(httpx.RemoteProtocolError("cut", request=request)).kind is Kind.UNAVAILABLE


def test_redact_removes_keys_and_auth_values() -> None:
    text = redact("key sk-secret-123 rejected; header was Bearer abcdefgh12345678", ["sk-secret-123"])
    assert "sk-secret-123" not in text
    assert "abcdefgh12345678" not in text


def _caused(error: BackendError, cause: BaseException) -> BackendError:
    error.__cause__ = cause
    return error


def test_submit_is_resent_only_when_it_provably_never_arrived() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/")
    decide = _backoff_hook(Retry.UNDELIVERED, FAST_RETRY, "fal: submit")
    refused = _caused(BackendError(Kind.UNAVAILABLE), httpx.ConnectError("refused", request=request))
    unsent = _caused(BackendError(Kind.TIMEOUT), httpx.ConnectTimeout("slow", request=request))
    sent = _caused(BackendError(Kind.TIMEOUT), httpx.ReadTimeout("slow", request=request))
    assert decide(refused) is True
    assert decide(unsent) is True
    assert decide(sent) is False
    assert decide(BackendError(Kind.UNAVAILABLE, status_code=503)) is False
    assert decide(BackendError(Kind.RATE_LIMITED, retry_after=0.5, status_code=429)) == 0.5
    # A Retry-After longer than the policy's cap goes up to the scheduler instead.
    assert decide(BackendError(Kind.RATE_LIMITED, retry_after=120, status_code=429)) is False


def test_idempotent_calls_retry_every_retryable_error() -> None:
    decide = _backoff_hook(Retry.IDEMPOTENT, FAST_RETRY, "fal: poll")
    assert decide(BackendError(Kind.UNAVAILABLE, status_code=503)) is True
    assert decide(BackendError(Kind.TIMEOUT)) is True
    assert decide(BackendError(Kind.AUTH, status_code=401)) is False
    assert decide(ValueError("not ours")) is False


class Recorder:
    """An ExternalWait that records why the adapter waited."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def __call__(self, awaitable: Awaitable[Any], reason: str) -> Any:
        self.reasons.append(reason)
        return await awaitable


async def test_connect_error_on_submit_is_retried_then_reported() -> None:
    wait = Recorder()
    http = ProviderHttp("x", base_url="http://127.0.0.1:9", wait=wait, timeouts=TIMEOUTS, retry=FAST_RETRY)
    try:
        with pytest.raises(BackendError) as caught:
            await http.send("POST", "jobs", json={}, reason="submit", retry=Retry.UNDELIVERED)
    finally:
        await http.aclose()
    assert caught.value.kind is Kind.UNAVAILABLE
    assert wait.reasons == ["x: submit"] * FAST_RETRY.attempts


@pytest.fixture
async def files(mp4_bytes: bytes) -> AsyncIterator[tuple[FakeProvider, ProviderHttp, Recorder]]:
    server = FakeProvider(mp4_bytes, expected_auth=None)
    base = await server.start()
    wait = Recorder()
    http = ProviderHttp(
        "x",
        base_url=base,
        wait=wait,
        auth_headers={"Authorization": "Bearer sk-never-on-downloads"},
        timeouts=TIMEOUTS,
        retry=FAST_RETRY,
    )
    yield server, http, wait
    await http.aclose()
    await server.stop()


async def test_interrupted_download_resumes_with_range(
    files: tuple[FakeProvider, ProviderHttp, Recorder], tmp_path: Path
) -> None:
    server, http, wait = files
    server.cut_downloads = 1
    clip = await http.download(server.file_url("clip.mp4"), tmp_path / "a.mp4", 10_000_000)

    half = len(server.video) // 2
    assert server.download_ranges == [None, f"bytes={half}-"]
    assert clip.path.read_bytes() == server.video
    assert clip.info.width == 64
    assert set(wait.reasons) == {"x: download"}


async def test_interrupted_download_restarts_without_range(
    files: tuple[FakeProvider, ProviderHttp, Recorder], tmp_path: Path
) -> None:
    server, http, _ = files
    server.cut_downloads = 1
    server.range_support = False
    clip = await http.download(server.file_url("clip.mp4"), tmp_path / "a.mp4", 10_000_000)

    assert server.received["download"] == 2
    assert clip.path.read_bytes() == server.video


async def test_download_over_the_cap_is_refused_and_deleted(
    files: tuple[FakeProvider, ProviderHttp, Recorder], tmp_path: Path
) -> None:
    server, http, _ = files
    dest = tmp_path / "a.mp4"
    with pytest.raises(BackendError) as caught:
        await http.download(server.file_url("clip.mp4"), dest, len(server.video) - 1)
    assert caught.value.kind is Kind.TOO_LARGE
    assert not dest.exists()
    assert server.received["download"] == 1  # a size refusal is final


async def test_download_retries_a_server_error(
    files: tuple[FakeProvider, ProviderHttp, Recorder], tmp_path: Path
) -> None:
    server, http, _ = files
    original = server.send_file
    replies = [Reply(503, "busy")]

    async def flaky(request: Any, name: str) -> Any:
        if replies:
            replies.pop()
            server.received["download"] += 1
            from aiohttp import web

            return web.Response(status=503, text="busy")
        return await original(request, name)

    server.send_file = flaky  # type: ignore[method-assign]
    clip = await http.download(server.file_url("clip.mp4"), tmp_path / "a.mp4", 10_000_000)
    assert server.received["download"] == 2
    assert clip.info.height == 64
