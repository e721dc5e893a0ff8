"""HTTP plumbing every provider adapter shares.

One `ProviderHttp` per backend owns one `httpx.AsyncClient` (explicit timeouts and
connection limits), puts the API key only on requests to the provider's own origin,
turns failures into `BackendError`, retries what is safe to retry (with `stamina`),
and streams result files to disk under a byte cap before probing them.

Limits every backend inherits from here: each request has a wall-clock deadline
(`HttpTimeouts.total`, a download `HttpTimeouts.download`), not only per-read
timeouts, so a server dribbling a byte at a time cannot stretch it; an answer body
is read under `MAX_BODY_BYTES`; secrets (and their parts) are removed from every
body before anything reads it; redirects are not followed, except on downloads of
a backend that says its documented flow needs them, and never to a loopback or
private address unless the backend itself is configured on one.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import ipaddress
import json as jsonlib
import logging
import re
import socket
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import httpx
import stamina
from httpx_sse import EventSource, ServerSentEvent, SSEError

from bot import metrics
from bot.backends.base import (
    BackendError,
    BackendErrorKind,
    BackendJob,
    ExternalWait,
    FetchedClip,
    GenerationRequest,
    InputImage,
    PollResult,
)
from bot.media.probe import NotAVideo, probe_video_async
from bot.safe_text import redact, secret_parts

log = logging.getLogger(__name__)

Kind = BackendErrorKind

# Words providers use for "your balance is empty" on a 403 (fal: "User is locked").
_CREDIT_WORDS = ("out of credit", "credit", "locked", "insufficient", "balance", "billing", "quota exceeded")
# Words providers use when moderation refused a prompt or an output.
CONTENT_WORDS = ("nsfw", "safety", "sensitive", "moderation", "content policy", "content_policy", "flagged")
# Replicate: "Request was throttled. Your rate limit resets in ~30s."
_RESETS_IN = re.compile(r"resets in ~?(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>([^<]{1,200})</title>", re.IGNORECASE)
# No provider's status or error answer comes near this; a larger one is refused unread.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_REDIRECTS = 5


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Seconds. `read` bounds the wait for each chunk; `total` bounds a whole API request
    (connect, headers and body) and `download` a whole result download, by the wall clock."""

    connect: float = 10.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 10.0
    total: float = 90.0
    download: float = 900.0
    max_connections: int = 10
    max_keepalive: int = 5


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 1.0
    timeout: float = 90.0
    # A longer Retry-After is not slept on here: the error goes up with `retry_after`
    # so the scheduler can requeue the job instead of holding a worker.
    max_retry_after: float = 30.0


class Retry(Enum):
    NEVER = "never"
    # GET/DELETE/cancel: sending twice is harmless.
    IDEMPOTENT = "idempotent"
    # A billed submit: resend only if the provider provably never accepted it.
    UNDELIVERED = "undelivered"


ContentPolicyRule = Callable[[Any, str], bool]
# A provider's own error codes, read before the shared rules: (status, body) -> a kind, or None.
KindRule = Callable[[int, Any], "Kind | None"]
# Where a provider says how long to wait in the error body instead of Retry-After (Google's RetryInfo).
RetryAfterRule = Callable[[Any], "float | None"]


def _no_content_rule(body: Any, message: str) -> bool:
    return False


def mentions_content_policy(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in CONTENT_WORDS)


def content_words_rule(body: Any, message: str) -> bool:
    """A `ContentPolicyRule` for providers that only say it in words."""
    return mentions_content_policy(message)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds (leniently a float) or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_message(body: Any, fallback: str = "") -> str:
    """The human part of a provider's error body, whatever its shape."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(error_message(item) for item in body if item)
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "msg", "failure", "failure_reason", "title"):
            value = body.get(key)
            if value:
                return error_message(value)
    return fallback


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        text = response.text
        if text.lstrip().startswith("<"):
            # An HTML error page: only its title says anything a person should read.
            title = _HTML_TITLE.search(text)
            return " ".join(title.group(1).split()) if title else ""
        return text[:1000]


def unreadable(name: str, reason: str, body: Any) -> BackendError:
    """An answer that parsed but is not what the provider documents (`[]`, `null`, an error with 200)."""
    message = error_message(body) if isinstance(body, dict) else ""
    if message:
        return BackendError(Kind.BAD_RESPONSE, f"{name} answered {reason} with an error: {message}")
    shown = jsonlib.dumps(body)[:80] if not isinstance(body, dict) else "an object without the expected fields"
    return BackendError(Kind.BAD_RESPONSE, f"{name} answered {reason} with {shown}")


def unknown_state(name: str, state: object, body: dict[str, Any]) -> BackendError:
    """A poll answer whose state the adapter does not know: a status body without one is unreadable."""
    if state is None:
        return unreadable(name, "the status request", body)
    return BackendError(Kind.UNAVAILABLE, f"{name} reported an unknown status {state!r}")


def classify_status(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    content_policy: ContentPolicyRule = _no_content_rule,
    not_found: Kind = Kind.MODEL_UNAVAILABLE,
    secrets: Iterable[str] = (),
    kind_rule: KindRule | None = None,
    retry_after_rule: RetryAfterRule | None = None,
) -> BackendError:
    """Classify a non-2xx answer. `not_found` says what a 404 means for this call."""
    message = redact(error_message(body, f"HTTP {status}"), secrets)
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is None and retry_after_rule is not None:
        retry_after = retry_after_rule(body)
    kind: Kind
    if kind_rule is not None and (ruled := kind_rule(status, body)) is not None:
        kind = ruled
    elif 400 <= status < 500 and status != 429 and content_policy(body, message):
        kind = Kind.CONTENT_POLICY
    elif status == 429:
        kind = Kind.RATE_LIMITED
        if retry_after is None and (match := _RESETS_IN.search(message)):
            retry_after = float(match.group(1))
    elif status == 400 and "credit" in message.lower():
        # Runway refuses a task it cannot pay for with 400 "not enough credits".
        kind = Kind.OUT_OF_CREDIT
    elif status in (400, 422):
        kind = Kind.INVALID_REQUEST
    elif status == 401:
        kind = Kind.AUTH
    elif status == 402:
        kind = Kind.OUT_OF_CREDIT
    elif status == 403:
        lowered = message.lower()
        kind = Kind.OUT_OF_CREDIT if any(word in lowered for word in _CREDIT_WORDS) else Kind.AUTH
    elif status in (404, 410):
        kind = not_found
    elif status == 408:
        kind = Kind.TIMEOUT
    elif status >= 500:
        kind = Kind.UNAVAILABLE
    else:
        kind = Kind.INVALID_REQUEST
    return BackendError(kind, message, retry_after=retry_after, status_code=status)


def classify_exception(error: httpx.HTTPError, secrets: Iterable[str] = ()) -> BackendError:
    """Transport failures. httpx messages carry no headers, but redact anyway."""
    kind = Kind.TIMEOUT if isinstance(error, httpx.TimeoutException) else Kind.UNAVAILABLE
    detail = str(error) or type(error).__name__
    return BackendError(kind, redact(f"{type(error).__name__}: {detail}", secrets))


# Raised before a single byte of the request went out, so the provider cannot have it.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# stamina's own log line for a retry ("stamina.retry_scheduled") names neither the provider, the
# call nor the URL; `ProviderHttp` says each retry itself. stamina's Prometheus counter stays.
stamina.instrumentation.set_on_retry_hooks([stamina.instrumentation.PrometheusOnRetryHook])


def _backoff_hook(mode: Retry, policy: RetryPolicy, what: str) -> Callable[[Exception], bool | float]:
    """stamina's `on`: whether (or after how long) to send again; each resend is logged, naming `what`."""
    failures = 0

    def decide(error: Exception) -> bool | float:
        nonlocal failures
        verdict = _verdict(mode, policy, error)
        failures += 1
        if verdict is not False and failures < policy.attempts:
            assert isinstance(error, BackendError)
            log.warning(
                "%s failed (%s); sending again, attempt %d of %d",
                what, error.provider_message or error.kind.value, failures + 1, policy.attempts,
            )  # fmt: skip
        return verdict

    return decide


def _verdict(mode: Retry, policy: RetryPolicy, error: Exception) -> bool | float:
    if not isinstance(error, BackendError) or not error.retryable or mode is Retry.NEVER:
        return False
    if mode is Retry.UNDELIVERED:
        refused = error.status_code == 429
        if not refused and not isinstance(error.__cause__, _UNSENT):
            return False
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= policy.max_retry_after else False
    return True


def data_uri(image: InputImage) -> str:
    return f"data:{image.content_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def provider_input(params: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The model's `params` as defaults under the request's own fields.

    Keys starting with `footage_` are adapter options (e.g. `footage_image_input`), not
    provider input, and are dropped here; read them with `adapter_option`.
    """
    merged = {key: value for key, value in params.items() if not key.startswith("footage_")}
    merged.update({key: value for key, value in fields.items() if value is not None})
    return merged


def sends_sound_flag(request: GenerationRequest) -> bool:
    """A provider's sound switch goes out for models that can switch sound or always have it;
    a silent model's provider may not know the field."""
    return bool(request.model.audio_optional or request.model.audio)


def adapter_option(params: Mapping[str, Any], name: str, default: str) -> str:
    value = params.get(f"footage_{name}", default)
    return str(value)


class ProviderHttp:
    """One backend's HTTP client: auth on its own origin only, classified errors, retries."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        wait: ExternalWait,
        auth_headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        timeouts: HttpTimeouts | None = None,
        retry: RetryPolicy | None = None,
        content_policy: ContentPolicyRule = _no_content_rule,
        authenticated_downloads: bool = False,
        follow_download_redirects: bool = False,
        kind_rule: KindRule | None = None,
        retry_after_rule: RetryAfterRule | None = None,
        url_setting: str = "",
    ) -> None:
        timeouts = timeouts or HttpTimeouts()
        self.name = name
        # The variable `base_url` comes from (COMFYUI_URL...), named where the URL is.
        self.url_setting = url_setting
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts
        self._wait = wait
        self._auth = dict(auth_headers or {})
        self._secrets = secret_parts(secrets)
        self._content_policy = content_policy
        self._kind_rule = kind_rule
        self._retry_after_rule = retry_after_rule
        # Result files on the provider's own API origin need the key (Gemini's file URIs).
        self._authenticated_downloads = authenticated_downloads
        self._origin = _origin(self.base_url)
        self._follow_download_redirects = follow_download_redirects
        # A backend configured on this machine or network (ComfyUI) may send us there.
        self._private_allowed = _is_private_host(urlsplit(self.base_url).hostname or "")
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
            ),
            limits=httpx.Limits(
                max_connections=timeouts.max_connections, max_keepalive_connections=timeouts.max_keepalive
            ),
            follow_redirects=False,
            headers={"User-Agent": "footage-bot"},
        )

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    async def aclose(self) -> None:
        await self.client.aclose()

    def classify(self, response: httpx.Response, *, not_found: Kind = Kind.MODEL_UNAVAILABLE) -> BackendError:
        error = classify_status(
            response.status_code,
            _json_or_text(response),
            response.headers,
            content_policy=self._content_policy,
            not_found=not_found,
            secrets=self._secrets,
            kind_rule=self._kind_rule,
            retry_after_rule=self._retry_after_rule,
        )
        metrics.provider_error(self.name, error.kind.value)
        return error

    def retrying(self, mode: Retry, reason: str) -> AsyncIterable[stamina.Attempt]:
        """stamina's attempts for one call; each resend is logged with the call, the URL and its setting."""
        policy = self.retry
        where = f"{self.base_url} ({self.url_setting})" if self.url_setting else self.base_url
        return stamina.retry_context(
            on=_backoff_hook(mode, policy, f"{self.name}: {reason} at {where}"),
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        reason: str,
        retry: Retry,
        json: Any = None,
        params: Mapping[str, str] | httpx.QueryParams | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        not_found: Kind = Kind.MODEL_UNAVAILABLE,
        accept: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """A request whose non-2xx answer raises a classified `BackendError`.

        `accept` lets a caller take a specific non-2xx answer as a result (fal's cancel
        answers 400 ALREADY_COMPLETED, a job already gone answers 404).
        """
        url = self.url(path)
        all_headers = {**(headers or {}), **(self._auth if _origin(url) == self._origin else {})}
        async for attempt in self.retrying(retry, reason):
            with attempt:
                request = self.client.build_request(
                    method, url, json=json, params=params, files=files, data=data, headers=all_headers
                )
                response = await self._exchange(request, f"{self.name}: {reason}")
                if response.is_success or (accept is not None and accept(response)):
                    return response
                if response.is_redirect:
                    raise BackendError(
                        Kind.BAD_RESPONSE,
                        f"{self.name} answered {reason} with a redirect, which its API does not use",
                        status_code=response.status_code,
                    )
                raise self.classify(response, not_found=not_found)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    async def send_json(self, method: str, path: str, *, reason: str, retry: Retry, **kwargs: Any) -> dict[str, Any]:
        """The answer's JSON object; anything else (`[]`, `null`, not JSON) is a `BAD_RESPONSE`."""
        response = await self.send(method, path, reason=reason, retry=retry, **kwargs)
        try:
            body = response.json()
        except ValueError:
            message = f"{self.name} answered {reason} with something that is not JSON"
            raise BackendError(Kind.BAD_RESPONSE, message, status_code=response.status_code) from None
        if not isinstance(body, dict):
            raise unreadable(self.name, reason, body)
        return body

    async def _exchange(self, request: httpx.Request, reason: str) -> httpx.Response:
        """Send and read the whole answer within `timeouts.total`, under `MAX_BODY_BYTES`.

        The answer comes back with its body read, decoded and stripped of secrets.
        """
        total = self.timeouts.total
        try:
            async with asyncio.timeout(total):
                response = await self._open(request, reason)
                try:
                    body = await self._read_capped(response, reason)
                finally:
                    await response.aclose()
        except TimeoutError:
            failure = BackendError(Kind.TIMEOUT, f"{reason}: no complete answer within {total:g} s")
            metrics.provider_error(self.name, failure.kind.value)
            raise failure from None
        except httpx.HTTPError as error:
            raise self._transport_failure(error) from error
        return _with_body(response, body, request)

    async def events(self, path: str, *, reason: str) -> AsyncIterator[dict[str, Any]]:
        """A server-sent event stream's events, each `data:` a JSON object, until the server closes it.

        Not bounded by `timeouts.total`: a status stream lasts as long as the job. Each line must
        come within `timeouts.read` (providers send keep-alive comments). A non-2xx answer raises
        the classified error, an answer that is not an event stream `BAD_RESPONSE`, a cut the
        transport's (retryable) error. Never retried here: the caller falls back to polls.
        """
        url = self.url(path)
        headers = {"Accept": "text/event-stream", **(self._auth if _origin(url) == self._origin else {})}
        request = self.client.build_request("GET", url, headers=headers)
        label = f"{self.name}: {reason}"
        try:
            response = await self._open(request, label)
        except httpx.HTTPError as error:
            raise self._transport_failure(error) from error
        try:
            if not response.is_success:
                raise self.classify(_with_body(response, await self._read_capped(response, label), request))
            stream = EventSource(response).aiter_sse()
            try:
                while True:
                    try:
                        event: ServerSentEvent = await self._wait(anext(stream), label)
                    except StopAsyncIteration:
                        return
                    if event.data:
                        yield self._event_object(event.data, reason)
            finally:
                await stream.aclose()
        except SSEError:
            raise BackendError(Kind.BAD_RESPONSE, f"{self.name} answered {reason} with no event stream") from None
        except httpx.HTTPError as error:
            raise self._transport_failure(error) from error
        finally:
            await response.aclose()

    def _event_object(self, data: str, reason: str) -> dict[str, Any]:
        try:
            body = jsonlib.loads(self._redacted(data.encode()))
        except ValueError:
            raise BackendError(Kind.BAD_RESPONSE, f"{self.name} sent an event on {reason} that is not JSON") from None
        if not isinstance(body, dict):
            raise unreadable(self.name, reason, body)
        return body

    async def _open(self, request: httpx.Request, reason: str) -> httpx.Response:
        response: httpx.Response = await self._wait(self.client.send(request, stream=True), reason)
        return response

    def _transport_failure(self, error: httpx.HTTPError) -> BackendError:
        failure = classify_exception(error, self._secrets)
        metrics.provider_error(self.name, failure.kind.value)
        return failure

    async def _read_capped(self, response: httpx.Response, reason: str) -> bytes:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise _too_large(reason)
        parts: list[bytes] = []
        size = 0
        chunks = response.aiter_bytes()  # decoded: a small gzip bomb is caught at its decoded size
        while (chunk := await self._next_chunk(chunks, reason)) is not None:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large(reason)
            parts.append(chunk)
        return self._redacted(b"".join(parts))

    def _redacted(self, body: bytes) -> bytes:
        for secret in self._secrets:
            body = body.replace(secret.encode(), b"***")
        return body

    async def download(self, url: str, dest: Path, max_bytes: int) -> FetchedClip:
        """Stream `url` to `dest` (resuming with Range after a cut), then probe it.

        No auth header goes with it: result URLs are usually a CDN, not the API. A
        backend with `authenticated_downloads` sends its key to its own origin only,
        never to where a redirect leads elsewhere.
        On any failure the partial file is deleted.
        """
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        limit = self.timeouts.download
        try:
            try:
                async with asyncio.timeout(limit):
                    await self._stream_to_file(url, dest, max_bytes)
            except TimeoutError:
                raise BackendError(Kind.TIMEOUT, f"the download took longer than {limit:g} s") from None
            try:
                info = await probe_video_async(dest)
            except NotAVideo as error:
                raise BackendError(Kind.BAD_OUTPUT, str(error)) from None
        except BaseException:
            # Synchronous on purpose: it must also run when the task is being cancelled.
            _discard(dest)
            raise
        return FetchedClip(path=dest, info=info, source_url=url)

    async def _stream_to_file(self, url: str, dest: Path, max_bytes: int) -> None:
        file: IO[bytes] = await asyncio.to_thread(dest.open, "wb")
        written = 0
        try:
            async for attempt in self.retrying(Retry.IDEMPOTENT, "download"):
                with attempt:
                    try:
                        written = await self._download_once(url, file, written, max_bytes)
                    except _Interrupted as cut:
                        written = cut.written
                        raise
        finally:
            await asyncio.to_thread(file.close)

    async def _download_once(self, url: str, file: IO[bytes], written: int, max_bytes: int) -> int:
        headers = {"Accept-Encoding": "identity"}
        if written:
            headers["Range"] = f"bytes={written}-"
        reason = f"{self.name}: download"
        response = await self._open_download(url, headers, reason)
        try:
            if response.status_code in (403, 404, 410):
                raise BackendError(
                    Kind.RESULT_EXPIRED,
                    f"result URL answered HTTP {response.status_code}",
                    status_code=response.status_code,
                )
            if not response.is_success:
                await response.aread()
                raise self.classify(response, not_found=Kind.RESULT_EXPIRED)
            if written and not _resumes_at(response, written):
                # The server ignored Range: start the file over.
                written = 0
                await asyncio.to_thread(_rewind, file)
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and written + int(length) > max_bytes:
                raise _result_too_large(max_bytes)
            # No chunk_size: a fixed size would hold back bytes that arrived before a cut.
            chunks = response.aiter_raw()
            while (chunk := await self._next_chunk(chunks, reason)) is not None:
                written += len(chunk)
                if written > max_bytes:
                    raise _result_too_large(max_bytes)
                await asyncio.to_thread(file.write, chunk)
            return written
        except httpx.HTTPError as error:
            # Cut mid-body: keep what arrived so the next attempt can resume from there.
            await asyncio.to_thread(file.flush)
            raise _Interrupted(classify_exception(error, self._secrets), written) from error
        finally:
            await response.aclose()

    async def _next_chunk(self, chunks: AsyncIterator[bytes], reason: str) -> bytes | None:
        try:
            chunk: bytes = await self._wait(anext(chunks), reason)
        except StopAsyncIteration:
            return None
        return chunk

    async def _open_download(self, url: str, headers: dict[str, str], reason: str) -> httpx.Response:
        """The result's answer, following redirects only where this backend's flow has them.

        Each hop is checked: http(s) only, the key only on the provider's own origin and
        only for `authenticated_downloads`, and no loopback or private address unless the
        backend itself lives on one.
        """
        for _ in range(MAX_REDIRECTS + 1):
            await self._check_target(url)
            keyed = self._authenticated_downloads and _origin(url) == self._origin
            request = self.client.build_request("GET", url, headers={**headers, **(self._auth if keyed else {})})
            try:
                response = await self._open(request, reason)
            except httpx.HTTPError as error:
                raise self._transport_failure(error) from error
            if not response.is_redirect:
                return response
            await response.aclose()
            if not self._follow_download_redirects:
                raise BackendError(
                    Kind.BAD_OUTPUT,
                    f"the result URL redirects elsewhere, which {self.name} results do not do",
                    status_code=response.status_code,
                )
            url = urljoin(url, response.headers.get("location", ""))
        raise BackendError(Kind.BAD_OUTPUT, f"the result URL redirected more than {MAX_REDIRECTS} times")

    async def _check_target(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(Kind.BAD_OUTPUT, "the result URL is not an http(s) address")
        if self._private_allowed:
            return
        if await _resolves_to_private(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)):
            raise BackendError(
                Kind.BAD_OUTPUT, "the result URL points at a loopback or private address, which is not fetched"
            )


async def doctor_answer(http: ProviderHttp, path: str, **options: Any) -> dict[str, Any] | str:
    """A free `GET` for `doctor`: the provider's JSON object, or what went wrong in plain words.
    Closes `http` afterwards (each check builds its own)."""
    try:
        return await http.send_json("GET", path, reason="doctor", retry=Retry.NEVER, **options)
    except BackendError as error:
        return f"{error.plain}: {error.provider_message}"
    finally:
        await http.aclose()


class UrlResultBackend:
    """What every adapter whose poll yields a plain result URL shares: fetch and close."""

    http: ProviderHttp

    async def fetch(self, job: BackendJob, result: PollResult, dest: Path, max_bytes: int) -> FetchedClip:
        if not result.result_url:
            raise BackendError(Kind.BAD_OUTPUT, f"{self.http.name}: job {job.id} has no result URL to fetch")
        return await self.http.download(result.result_url, dest, max_bytes)

    async def aclose(self) -> None:
        await self.http.aclose()


class _Interrupted(BackendError):
    """A download cut mid-body; remembers how much reached the file."""

    def __init__(self, error: BackendError, written: int) -> None:
        super().__init__(error.kind, error.provider_message, status_code=error.status_code)
        self.written = written


# Describe the body as sent; the rebuilt answer carries it decoded, with its true length.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _with_body(response: httpx.Response, body: bytes, request: httpx.Request) -> httpx.Response:
    """The answer rebuilt around its body as read (decoded, secrets removed)."""
    headers = [(key, value) for key, value in response.headers.multi_items() if key not in _BODY_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=body, request=request)


def _too_large(reason: str) -> BackendError:
    return BackendError(Kind.BAD_RESPONSE, f"{reason}: the answer is larger than {MAX_BODY_BYTES // 1024**2} MiB")


def _result_too_large(max_bytes: int) -> BackendError:
    return BackendError(Kind.TOO_LARGE, f"the result is larger than the {max_bytes}-byte limit")


def _is_private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _is_private_host(host: str) -> bool:
    """For a configured base URL: a literal private address, or a name for this machine."""
    try:
        return _is_private_address(host)
    except ValueError:
        return host.lower() == "localhost" or host.lower().endswith((".localhost", ".local", ".internal"))


async def _resolves_to_private(host: str, port: int) -> bool:
    try:
        return _is_private_address(host)
    except ValueError:
        pass
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # the request itself will fail to connect, with its own error
    return any(_is_private_address(str(entry[4][0])) for entry in found)


def _resumes_at(response: httpx.Response, offset: int) -> bool:
    content_range = response.headers.get("content-range", "")
    return response.status_code == 206 and content_range.startswith(f"bytes {offset}-")


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _rewind(file: IO[bytes]) -> None:
    file.seek(0)
    file.truncate()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()
