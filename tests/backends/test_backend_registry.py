"""build_backends and check_backend_settings: one adapter per backend, plain problems."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from bot.backends.comfyui import ComfyUIBackend
from bot.backends.fal import FalBackend
from bot.backends.registry import build_backends, check_backend_settings
from bot.models import CatalogError, ModelCatalog, ModelSpec, load_catalog
from bot.settings import Settings

from .harness import WORKFLOW

FAL_KEY = "0b8e0f4e-6a2d-4d9f-9a51-1c2f7e9d3a10:3f9b2c7d8e1a4b5c6d7e8f9a"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _catalog(*specs: tuple[str, str]) -> ModelCatalog:
    return ModelCatalog(
        [
            ModelSpec(name=name, backend=backend, provider_model="", durations=(5,), aspects=("16:9",))
            for name, backend in specs
        ]  # type: ignore[arg-type]
    )


async def test_builds_one_adapter_per_backend() -> None:
    settings = _settings(
        footage_backend="fal", fal_key=FAL_KEY, fal_model="fal-ai/wan/v2.2-5b/text-to-video", comfyui_workflow=WORKFLOW
    )
    catalog = _catalog(("fast", "fal"), ("slow", "fal"), ("local", "comfyui"))
    backends = build_backends(settings, catalog)
    try:
        assert set(backends) == {"fal", "comfyui"}
        assert isinstance(backends["fal"], FalBackend)
        assert isinstance(backends["comfyui"], ComfyUIBackend)
        assert backends["fal"].http.base_url == "https://queue.fal.run"
    finally:
        for backend in backends.values():
            await backend.aclose()


def test_a_missing_key_names_the_variable_and_the_model() -> None:
    settings = _settings(footage_backend="fal", fal_model="fal-ai/x")
    with pytest.raises(CatalogError, match=r"FAL_KEY is not set \(needed by model 'fal'\)"):
        build_backends(settings, load_catalog(settings))


def test_demo_is_built_by_its_own_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Settings, Any]] = []

    class DemoBackend:
        @classmethod
        def from_settings(cls, settings: Settings, wait: Any) -> str:
            calls.append((settings, wait))
            return "demo-instance"

    module = types.ModuleType("bot.backends.demo")
    module.DemoBackend = DemoBackend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.backends.demo", module)
    settings = _settings()

    async def wait(awaitable: Any, reason: str) -> Any:
        return await awaitable

    backends = build_backends(settings, load_catalog(settings), wait)
    assert backends == {"demo": "demo-instance"}
    assert calls == [(settings, wait)]


def test_check_reports_each_backend(tmp_path: Path) -> None:
    settings = _settings(
        fal_key=FAL_KEY,
        replicate_api_token="r8_abc def ghi jkl mno",
        runwayml_api_secret="short",
        comfyui_workflow=tmp_path / "missing.json",
    )
    catalog = _catalog(
        ("a", "fal"), ("b", "replicate"), ("c", "runway"), ("d", "luma"), ("e", "comfyui"), ("f", "demo")
    )
    report = {name: (ok, message) for name, ok, message in check_backend_settings(settings, catalog)}

    assert report["fal"] == (False, "FAL_MODEL is not set and model 'a' has no provider_model")
    assert report["replicate"][0] is False
    assert "REPLICATE_API_TOKEN contains spaces" in report["replicate"][1]
    assert report["runway"] == (False, "RUNWAYML_API_SECRET is too short to be an API key (needed by model 'c')")
    assert report["luma"] == (False, "LUMAAI_API_KEY is not set (needed by model 'd')")
    assert report["comfyui"][0] is False
    assert str(tmp_path / "missing.json") in report["comfyui"][1]
    assert report["demo"][0] is True
    for _, message in report.values():
        assert FAL_KEY not in message


def test_check_passes_a_complete_setup() -> None:
    settings = _settings(
        fal_key=FAL_KEY, fal_model="fal-ai/x", lumaai_api_key="luma-0123456789abcdef0123", comfyui_workflow=WORKFLOW
    )
    catalog = _catalog(("a", "fal"), ("d", "luma"), ("e", "comfyui"))
    report = check_backend_settings(settings, catalog)
    assert [(name, ok) for name, ok, _ in report] == [("comfyui", True), ("fal", True), ("luma", True)]
    assert "is valid" in report[0][2]
