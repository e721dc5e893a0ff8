"""One fake server plus its adapter, per provider, with what differs between providers."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from bot.backends.base import (
    Backend,
    BackendErrorKind,
    BackendJob,
    GenerationRequest,
    InputImage,
    PollResult,
)
from bot.backends.http import HttpTimeouts, RetryPolicy
from bot.backends.registry import ENTRIES, build_backends
from bot.models import ModelCatalog, ModelSpec
from bot.settings import Settings

from .servers.base import FakeProvider, HarnessTraits
from .servers.comfyui import WORKFLOW, ComfyFake

Kind = BackendErrorKind
# Every hosted or local backend in the registry; each has a fake in `servers/<name>.py`.
PROVIDERS = [name for name in ENTRIES if name != "demo"]
FAST_RETRY = RetryPolicy(
    attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0, timeout=5.0, max_retry_after=1.0
)
TIMEOUTS = HttpTimeouts(connect=1.0, read=0.3, write=1.0, pool=1.0)
PNG = InputImage(data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, content_type="image/png", filename="frame.png")
__all__ = ["WORKFLOW"]


@dataclass
class Harness:
    name: str
    server: FakeProvider
    backend: Backend
    model: ModelSpec
    make_backend: Callable[[str | None], Backend]
    traits: HarnessTraits  # what differs between providers, from the fake's module
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
        "seconds": server_module(backend).TRAITS.seconds,
        "aspect": "16:9",
        "seed": 1234,
    }
    fields |= overrides
    # As the runner sends it: the model's sound unless the test chooses.
    fields.setdefault("audio", fields["model"].sound_for(None))
    return GenerationRequest(**fields)


def server_module(name: str) -> ModuleType:
    """`servers/<name>.py`: its FAKE, PROVIDER_MODEL, TRAITS and settings_for(base_url)."""
    return importlib.import_module(f"{__package__}.servers.{name}")


def _spec(name: str, **overrides: Any) -> ModelSpec:
    fields: dict[str, Any] = {
        "name": name,
        "backend": name,
        "provider_model": server_module(name).PROVIDER_MODEL,
        "durations": (5, 9),
        "aspects": ("16:9", "9:16", "1:1"),
    }
    return ModelSpec(**(fields | overrides))


def _builder(name: str, base_url: str) -> tuple[Callable[[str | None], Backend], list[str]]:
    """Adapters built by the registry from settings aimed at the fake, as the bot builds them."""
    values: dict[str, Any] = server_module(name).settings_for(base_url)
    keys = ENTRIES[name].keys

    def make(key: str | None) -> Backend:
        overrides = {rule.field: key for rule in keys} if key is not None else {}
        settings = Settings(_env_file=None, footage_backend=name, **(values | overrides))  # type: ignore[call-arg]
        catalog = ModelCatalog([_spec(name)])
        return build_backends(settings, catalog, timeouts=TIMEOUTS, retry=FAST_RETRY)[name]

    return make, [str(values[rule.field]) for rule in keys]


@asynccontextmanager
async def start_harness(name: str, video: bytes) -> AsyncIterator[Harness]:
    module = server_module(name)
    server: FakeProvider = module.FAKE(video)
    base_url = await server.start()
    make_backend, keys = _builder(name, base_url)
    backend = make_backend(None)
    harness = Harness(
        name=name,
        server=server,
        backend=backend,
        model=_spec(name),
        make_backend=make_backend,
        traits=module.TRAITS,
        keys=keys,
    )
    try:
        yield harness
    finally:
        await backend.aclose()
        await server.stop()
