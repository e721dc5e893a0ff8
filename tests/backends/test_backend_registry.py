"""build_backends and check_backend_settings: one adapter per backend, plain problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.backends import registry
from bot.backends.comfyui import ComfyUIBackend
from bot.backends.demo import DemoBackend
from bot.backends.entry import BackendSettings
from bot.backends.fal import FalBackend
from bot.backends.registry import ENTRIES, build_backends, check_backend_settings, load_catalog, resolve_model
from bot.models import CatalogError, ModelCatalog, ModelSpec
from bot.settings import Settings, backend_names, backend_settings

from .harness import WORKFLOW

FAL_KEY = "0b8e0f4e-6a2d-4d9f-9a51-1c2f7e9d3a10:3f9b2c7d8e1a4b5c6d7e8f9a"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _catalog(*specs: tuple[str, str]) -> ModelCatalog:
    return ModelCatalog(
        [
            ModelSpec(name=name, backend=backend, provider_model="", durations=(5,), aspects=("16:9",))
            for name, backend in specs
        ]
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


async def test_demo_is_built_by_its_own_factory(tmp_path: Path) -> None:
    settings = _settings(media_dir=tmp_path, demo_latency_seconds=1.5)

    async def wait(awaitable: Any, reason: str) -> Any:
        return await awaitable

    backends = build_backends(settings, load_catalog(settings), wait)
    try:
        assert list(backends) == ["demo"]
        assert isinstance(backends["demo"], DemoBackend)
        assert backends["demo"]._latency == 1.5
    finally:
        await backends["demo"].aclose()


def test_env_only_comfyui_model_follows_its_workflow(tmp_path: Path) -> None:
    """A workflow with a `footage:image` input makes the `.env`-only model image-to-video."""
    import json

    graph = json.loads(WORKFLOW.read_text())
    graph["90"] = {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "footage:image"}}
    with_image = tmp_path / "i2v.json"
    with_image.write_text(json.dumps(graph))

    plain = load_catalog(_settings(footage_backend="comfyui", comfyui_workflow=WORKFLOW)).default
    animated = load_catalog(_settings(footage_backend="comfyui", comfyui_workflow=with_image)).default

    assert plain.image_to_video is False
    assert animated.image_to_video is True


def test_a_model_cannot_claim_what_its_backend_cannot_do(tmp_path: Path) -> None:
    config = tmp_path / "footage.toml"
    config.write_text(
        f'[models.local]\nbackend = "comfyui"\nprovider_model = "{WORKFLOW}"\ndurations = [2]\naspects = ["1:1"]\n'
        "image_to_video = true\n"
    )
    with pytest.raises(CatalogError, match="model 'local': image_to_video = true, but backend comfyui cannot"):
        load_catalog(_settings(footage_config=config))


def test_a_model_file_naming_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "footage.toml"
    config.write_text('[models.x]\nbackend = "sora"\ndurations = [4]\naspects = ["1:1"]\n')
    with pytest.raises(CatalogError, match="field backend: unknown 'sora'"):
        load_catalog(_settings(footage_config=config))


def test_every_entry_declares_its_variables_in_settings() -> None:
    for entry in ENTRIES.values():
        assert entry.variables, entry.name
        for variable in entry.variables:
            assert variable.lower() in Settings.model_fields
        for rule in entry.keys:
            assert rule.variable in entry.variables


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


def test_sound_is_on_where_it_always_is_and_off_where_it_can_be_switched_off() -> None:
    def audio(backend: str, wanted: bool | None = None, optional: bool | None = None) -> tuple[bool, bool]:
        model = ModelSpec(
            name="m", backend=backend, durations=(5,), aspects=("16:9",), audio=wanted, audio_optional=optional
        )
        resolved = resolve_model(model)
        return bool(resolved.audio), bool(resolved.audio_optional)

    assert audio("veo") == (True, False)
    assert audio("kling") == (False, True)
    assert audio("kling", True) == (True, True)
    assert audio("fal") == (False, True)
    assert audio("fal", optional=False) == (False, False)  # a fal model without a sound switch
    assert audio("luma") == (False, False)
    with pytest.raises(CatalogError, match="model 'm': audio = true, but backend luma cannot"):
        audio("luma", True)
    with pytest.raises(CatalogError, match="model 'm': audio_optional = true, but backend veo cannot"):
        audio("veo", optional=True)


def test_a_settings_base_without_its_entry_is_refused_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    class OrphanSettings(BackendSettings):  # a module of tests, which has no ENTRY
        backend_name: ClassVar[str] = "orphan"

    monkeypatch.setattr(registry, "backend_settings", lambda: [*backend_settings(), OrphanSettings])
    with pytest.raises(TypeError, match=r"needs ENTRY = BackendEntry\(settings=OrphanSettings"):
        registry._entries()
    assert list(ENTRIES) == backend_names()  # every real base has its entry, in the bases' order
