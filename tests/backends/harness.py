"""One fake server plus its adapter, per provider, with what differs between providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.backends.base import (
    Backend,
    BackendErrorKind,
    BackendJob,
    GenerationRequest,
    InputImage,
    PollResult,
)
from bot.backends.comfyui import ComfyUIBackend
from bot.backends.fal import FalBackend
from bot.backends.http import HttpTimeouts, RetryPolicy
from bot.backends.luma import LumaBackend
from bot.backends.replicate import ReplicateBackend
from bot.backends.runway import RunwayBackend
from bot.models import ModelSpec

from .servers import fal, luma, replicate, runway
from .servers.base import FakeProvider, Reply
from .servers.comfyui import ComfyFake

Kind = BackendErrorKind
PROVIDERS = ["fal", "replicate", "runway", "luma", "comfyui"]
WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "comfyui" / "wan_t2v_api.json"
FAST_RETRY = RetryPolicy(
    attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0, timeout=5.0, max_retry_after=1.0
)
TIMEOUTS = HttpTimeouts(connect=1.0, read=0.3, write=1.0, pool=1.0)
PNG = InputImage(data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, content_type="image/png", filename="frame.png")

_PROVIDER_MODEL = {
    "fal": "fal-ai/wan/v2.2-5b/text-to-video",
    "replicate": "wan-video/wan-2.2-t2v-fast",
    "runway": "gen4.5",
    "luma": "ray-2",
    "comfyui": "",
}


@dataclass
class Harness:
    name: str
    server: FakeProvider
    backend: Backend
    model: ModelSpec
    make_backend: Callable[[str | None], Backend]
    # What differs between providers:
    queue_position: int | None
    progress: float | None
    rejected_kind: Kind
    out_of_credit: Reply | None
    invalid: Reply | None  # None: the fake refuses an empty prompt on its own
    idempotent: bool = False
    keys: list[str] = field(default_factory=list)

    def request(self, job_id: str = "job-1", **overrides: Any) -> GenerationRequest:
        return make_request(self.name, job_id, **overrides)

    def set_outcome(self, outcome: str) -> None:
        if isinstance(self.server, ComfyFake):
            self.server.outcome = "failed" if outcome == "rejected" else outcome
        else:
            self.server.jobs.outcome = outcome  # type: ignore[attr-defined]

    async def run(self, job: BackendJob, limit: int = 8) -> list[PollResult]:
        """Poll until a final state (ignoring poll_after: the fakes move one step per poll)."""
        results: list[PollResult] = []
        for _ in range(limit):
            result = await self.backend.poll(job)
            results.append(result)
            if result.state in ("succeeded", "failed", "canceled"):
                return results
        raise AssertionError(f"{self.name}: no final state after {limit} polls: {results}")


def make_request(backend: str, job_id: str = "job-1", **overrides: Any) -> GenerationRequest:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "model": _spec(backend),
        "prompt": "a red fox running through snow",
        "seconds": 5,
        "aspect": "16:9",
        "seed": 1234,
    }
    return GenerationRequest(**(fields | overrides))


def _spec(name: str, **overrides: Any) -> ModelSpec:
    fields: dict[str, Any] = {
        "name": name,
        "backend": name,
        "provider_model": _PROVIDER_MODEL[name],
        "durations": (5, 9),
        "aspects": ("16:9", "9:16", "1:1"),
    }
    return ModelSpec(**(fields | overrides))


def _builder(name: str, base_url: str) -> tuple[Callable[[str | None], Backend], str]:
    options: dict[str, Any] = {"timeouts": TIMEOUTS, "retry": FAST_RETRY}
    if name == "fal":
        return (lambda key: FalBackend(SecretStr(key or fal.KEY), "", queue_url=base_url, **options)), fal.KEY
    if name == "replicate":
        url = f"{base_url}/v1"
        return (lambda key: ReplicateBackend(SecretStr(key or replicate.TOKEN), "", base_url=url, **options)), (
            replicate.TOKEN
        )
    if name == "runway":
        return (
            lambda key: RunwayBackend(SecretStr(key or runway.KEY), "gen4.5", base_url=base_url, **options)
        ), runway.KEY
    if name == "luma":
        url = f"{base_url}{luma.PREFIX}"
        return (lambda key: LumaBackend(SecretStr(key or luma.KEY), "ray-2", base_url=url, **options)), luma.KEY
    return (lambda key: ComfyUIBackend(WORKFLOW, base_url=base_url, **options)), ""


def _server(name: str, video: bytes) -> FakeProvider:
    servers: dict[str, Callable[[bytes], FakeProvider]] = {
        "fal": fal.FalFake,
        "replicate": replicate.ReplicateFake,
        "runway": runway.RunwayFake,
        "luma": luma.LumaFake,
        "comfyui": ComfyFake,
    }
    return servers[name](video)


_TRAITS: dict[str, dict[str, Any]] = {
    "fal": {
        "queue_position": 2,
        "progress": None,
        "rejected_kind": Kind.CONTENT_POLICY,
        "out_of_credit": Reply(403, {"detail": "User is locked. Reason: Exhausted balance. Top up your balance."}),
        "invalid": None,
    },
    "replicate": {
        "queue_position": None,
        "progress": 0.5,
        "rejected_kind": Kind.CONTENT_POLICY,
        "out_of_credit": Reply(
            402, {"title": "Insufficient credit", "detail": "You have insufficient credit to run this model."}
        ),
        "invalid": None,
    },
    "runway": {
        "queue_position": None,
        "progress": 0.42,
        "rejected_kind": Kind.CONTENT_POLICY,
        "out_of_credit": Reply(400, {"error": "You do not have enough credits to run this task."}),
        "invalid": None,
    },
    "luma": {
        "queue_position": None,
        "progress": None,
        "rejected_kind": Kind.CONTENT_POLICY,
        "out_of_credit": Reply(402, {"detail": "Insufficient credits. Please add credits to your account."}),
        "invalid": None,
    },
    "comfyui": {
        "queue_position": 0,
        "progress": 0.3,
        # A local server has no moderation: a failing workflow is the closest case.
        "rejected_kind": Kind.GENERATION_FAILED,
        "out_of_credit": None,
        "invalid": Reply(
            400,
            {
                "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
                "node_errors": {"3": {"errors": [{"message": "Value not in list"}]}},
            },
        ),
        "idempotent": True,
    },
}


@asynccontextmanager
async def start_harness(name: str, video: bytes) -> AsyncIterator[Harness]:
    server = _server(name, video)
    base_url = await server.start()
    make_backend, key = _builder(name, base_url)
    backend = make_backend(None)
    harness = Harness(
        name=name,
        server=server,
        backend=backend,
        model=_spec(name),
        make_backend=make_backend,
        keys=[key] if key else [],
        **_TRAITS[name],
    )
    try:
        yield harness
    finally:
        await backend.aclose()
        await server.stop()
