"""The one protocol every video backend speaks, and its closed set of errors.

A backend turns a `GenerationRequest` into a provider job (`submit`), reports on it
(`poll`), stops it if it can (`cancel`) and downloads the finished clip (`fetch`).
Only modules in `bot.backends` talk HTTP to a provider.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from bot.media.probe import VideoInfo

# Re-exported: declared beside the model it describes, used by every adapter.
from bot.models import BackendCapabilities as BackendCapabilities
from bot.models import ModelSpec

T = TypeVar("T")

# Wraps an await on the outside world (a provider request, a worker process). The
# default just awaits; the offline Discord simulator passes its `external_wait` so
# its settling knows the bot is waiting on purpose.
ExternalWait = Callable[[Awaitable[Any], str], Awaitable[Any]]


async def await_directly(awaitable: Awaitable[T], reason: str) -> T:
    return await awaitable


class BackendErrorKind(StrEnum):
    # Retryable: the request may succeed if sent again later.
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    # Final: sending it again cannot help.
    INVALID_REQUEST = "invalid_request"
    AUTH = "auth"
    OUT_OF_CREDIT = "out_of_credit"
    CONTENT_POLICY = "content_policy"
    MODEL_UNAVAILABLE = "model_unavailable"
    RESULT_EXPIRED = "result_expired"
    BAD_OUTPUT = "bad_output"
    TOO_LARGE = "too_large"
    # The provider answered, but not in a shape its API documents ([], null, not JSON).
    BAD_RESPONSE = "bad_response"
    GENERATION_FAILED = "generation_failed"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({BackendErrorKind.RATE_LIMITED, BackendErrorKind.UNAVAILABLE, BackendErrorKind.TIMEOUT})

PLAIN_WORDS: dict[BackendErrorKind, str] = {
    BackendErrorKind.RATE_LIMITED: "the video service is busy (rate limited)",
    BackendErrorKind.UNAVAILABLE: "the video service is unavailable",
    BackendErrorKind.TIMEOUT: "the video service did not answer in time",
    BackendErrorKind.INVALID_REQUEST: "the video service refused the request as invalid",
    BackendErrorKind.AUTH: "the video service refused the bot's API key",
    BackendErrorKind.OUT_OF_CREDIT: "the video service account is out of credit",
    BackendErrorKind.CONTENT_POLICY: "the video service rejected the prompt under its content policy",
    BackendErrorKind.MODEL_UNAVAILABLE: "the model is not available at the video service",
    BackendErrorKind.RESULT_EXPIRED: "the finished video expired before it could be downloaded",
    BackendErrorKind.BAD_OUTPUT: "the video service returned a file that is not a playable video",
    BackendErrorKind.TOO_LARGE: "the finished video is larger than the bot's download limit",
    BackendErrorKind.BAD_RESPONSE: "the video service sent an answer the bot could not read",
    BackendErrorKind.GENERATION_FAILED: "the video service failed to generate the clip",
}


class BackendError(Exception):
    """A provider failure, classified. `provider_message` never contains a secret."""

    def __init__(
        self,
        kind: BackendErrorKind,
        provider_message: str = "",
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        self.kind = kind
        self.provider_message = provider_message[:500]
        self.retry_after = retry_after
        self.status_code = status_code
        super().__init__(f"{kind.value}: {self.plain}" + (f" ({self.provider_message})" if provider_message else ""))

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    @property
    def plain(self) -> str:
        return PLAIN_WORDS[self.kind]


@dataclass(frozen=True, slots=True)
class InputImage:
    data: bytes
    content_type: str  # image/png, image/jpeg, image/webp
    filename: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    job_id: str
    model: ModelSpec
    prompt: str
    seconds: int
    aspect: str  # "16:9"
    seed: int
    negative_prompt: str | None = None
    image: InputImage | None = None
    # With sound: sent where the model can switch it (`model.audio_optional`), else the model's own.
    audio: bool = False


@dataclass(frozen=True, slots=True)
class BackendJob:
    """A provider job as the store keeps it: its id plus what polling needs (URLs...)."""

    id: str
    data: Mapping[str, str] = field(default_factory=dict)


PollState = Literal["queued", "running", "succeeded", "failed", "canceled"]


@dataclass(frozen=True, slots=True)
class PollResult:
    state: PollState
    progress: float | None = None  # 0..1
    queue_position: int | None = None
    result_url: str | None = None
    error: BackendError | None = None
    poll_after: float | None = None  # poll again by then at the latest (seconds); None: no opinion


@dataclass(frozen=True, slots=True)
class FetchedClip:
    path: Path
    info: VideoInfo
    source_url: str | None  # the provider's URL, for a link when the file cannot be uploaded


class Backend(Protocol):
    name: str
    capabilities: BackendCapabilities

    async def submit(self, request: GenerationRequest) -> BackendJob:
        """Start a generation. Raises BackendError. Never resends an accepted submit."""

    async def poll(self, job: BackendJob) -> PollResult:
        """Report the job's state. A provider-side failure is a `failed` result with `error`."""

    async def cancel(self, job: BackendJob) -> None:
        """Ask the provider to stop the job; best effort, never raises for an unknown job."""

    async def fetch(self, job: BackendJob, result: PollResult, dest: Path, max_bytes: int) -> FetchedClip:
        """Stream the finished clip to `dest` (at most `max_bytes`) and check it is a real video."""

    async def aclose(self) -> None:
        """Release connections."""


@runtime_checkable
class StatusStream(Protocol):
    """A backend whose provider pushes a job's states (fal's server-sent status events)."""

    def status_stream(self, job: BackendJob) -> AsyncGenerator[PollResult, None]:
        """The job's states as they change, the last a final one. Ends early, or raises
        BackendError, when the stream does not answer; the caller then polls."""
