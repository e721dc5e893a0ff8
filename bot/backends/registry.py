"""Build one adapter per backend the catalog uses, and say what each one still needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from bot.backends.base import Backend, ExternalWait, await_directly
from bot.backends.comfyui import ComfyUIBackend, Workflow, WorkflowError
from bot.backends.fal import FalBackend
from bot.backends.luma import LumaBackend
from bot.backends.replicate import ReplicateBackend
from bot.backends.runway import RunwayBackend
from bot.models import CatalogError, ModelCatalog
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class _KeyRule:
    variable: str
    read: Callable[[Settings], SecretStr | None]
    prefix: str  # what the provider's keys look like; a mismatch is only a hint


_KEYS: dict[str, _KeyRule] = {
    "fal": _KeyRule("FAL_KEY", lambda settings: settings.fal_key, ""),
    "replicate": _KeyRule("REPLICATE_API_TOKEN", lambda settings: settings.replicate_api_token, "r8_"),
    "runway": _KeyRule("RUNWAYML_API_SECRET", lambda settings: settings.runwayml_api_secret, "key_"),
    "luma": _KeyRule("LUMAAI_API_KEY", lambda settings: settings.lumaai_api_key, "luma-"),
}
_MIN_KEY_LENGTH = 16


def _models_using(catalog: ModelCatalog, backend: str) -> str:
    return ", ".join(repr(model.name) for model in catalog if model.backend == backend)


def _key_problem(settings: Settings, catalog: ModelCatalog, backend: str) -> str | None:
    rule = _KEYS[backend]
    secret = rule.read(settings)
    value = secret.get_secret_value() if secret is not None else ""
    needed_by = f"(needed by model {_models_using(catalog, backend)})"
    if not value.strip():
        return f"{rule.variable} is not set {needed_by}"
    if value != value.strip() or any(char.isspace() for char in value):
        return f"{rule.variable} contains spaces or line breaks; copy the key again {needed_by}"
    if len(value) < _MIN_KEY_LENGTH:
        return f"{rule.variable} is too short to be an API key {needed_by}"
    return None


def _key_hint(settings: Settings, backend: str) -> str:
    rule = _KEYS[backend]
    secret = rule.read(settings)
    if secret is None or not rule.prefix or secret.get_secret_value().startswith(rule.prefix):
        return ""
    return f"; note: {backend} keys usually start with {rule.prefix!r}"


def _model_problem(settings: Settings, catalog: ModelCatalog, backend: str) -> str | None:
    """fal and Replicate have no default model: every model needs a provider id."""
    variable = {"fal": "FAL_MODEL", "replicate": "REPLICATE_MODEL"}.get(backend)
    if variable is None:
        return None
    default = settings.fal_model if backend == "fal" else settings.replicate_model
    missing = [model.name for model in catalog if model.backend == backend and not (model.provider_model or default)]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        return f"{variable} is not set and model {names} has no provider_model"
    return None


def _workflow_paths(settings: Settings, catalog: ModelCatalog) -> list[Path]:
    paths = [Path(model.provider_model) for model in catalog if model.backend == "comfyui" and model.provider_model]
    if not paths and settings.comfyui_workflow is not None:
        paths.append(settings.comfyui_workflow)
    return list(dict.fromkeys(paths))


def _workflow_problem(settings: Settings, catalog: ModelCatalog) -> str | None:
    paths = _workflow_paths(settings, catalog)
    if not paths:
        return f"COMFYUI_WORKFLOW is not set (needed by model {_models_using(catalog, 'comfyui')})"
    for path in paths:
        try:
            Workflow.load(path)
        except WorkflowError as error:
            return str(error)
    return None


def _problem(settings: Settings, catalog: ModelCatalog, backend: str) -> str | None:
    if backend == "comfyui":
        return _workflow_problem(settings, catalog)
    if backend in _KEYS:
        return _key_problem(settings, catalog, backend) or _model_problem(settings, catalog, backend)
    return None


def check_backend_settings(settings: Settings, catalog: ModelCatalog) -> list[tuple[str, bool, str]]:
    """(backend, ok, plain message) for every backend the catalog uses; for `doctor`."""
    report: list[tuple[str, bool, str]] = []
    for backend in sorted(catalog.backends()):
        problem = _problem(settings, catalog, backend)
        if problem is not None:
            report.append((backend, False, problem))
        elif backend == "demo":
            report.append((backend, True, "built in; needs no key"))
        elif backend == "comfyui":
            where = ", ".join(str(path) for path in _workflow_paths(settings, catalog))
            report.append((backend, True, f"workflow {where} is valid; server {settings.comfyui_url}"))
        else:
            report.append((backend, True, f"{_KEYS[backend].variable} is set{_key_hint(settings, backend)}"))
    return report


def build_backends(
    settings: Settings, catalog: ModelCatalog, wait: ExternalWait = await_directly
) -> dict[str, Backend]:
    """One adapter per backend named in the catalog. Raises CatalogError naming what is missing."""
    backends: dict[str, Backend] = {}
    for backend in sorted(catalog.backends()):
        problem = _problem(settings, catalog, backend)
        if problem is not None:
            raise CatalogError(problem)
        backends[backend] = _build(settings, catalog, backend, wait)
    return backends


def _secret(settings: Settings, backend: str) -> SecretStr:
    secret = _KEYS[backend].read(settings)
    assert secret is not None  # _problem() has checked it
    return secret


def _build(settings: Settings, catalog: ModelCatalog, backend: str, wait: ExternalWait) -> Backend:
    if backend == "demo":
        # Imported here: the demo renderer is its own module with its own dependencies.
        from bot.backends.demo import DemoBackend

        demo: Backend = DemoBackend.from_settings(settings, wait)
        return demo
    if backend == "fal":
        return FalBackend(
            _secret(settings, "fal"), settings.fal_model or "", queue_url=str(settings.fal_queue_url), wait=wait
        )
    if backend == "replicate":
        return ReplicateBackend(
            _secret(settings, "replicate"),
            settings.replicate_model or "",
            base_url=str(settings.replicate_base_url),
            wait=wait,
        )
    if backend == "runway":
        return RunwayBackend(
            _secret(settings, "runway"), settings.runway_model, base_url=str(settings.runway_base_url), wait=wait
        )
    if backend == "luma":
        return LumaBackend(
            _secret(settings, "luma"), settings.luma_model, base_url=str(settings.luma_base_url), wait=wait
        )
    if backend == "comfyui":
        try:
            return ComfyUIBackend(_workflow_paths(settings, catalog)[0], base_url=str(settings.comfyui_url), wait=wait)
        except WorkflowError as error:
            raise CatalogError(str(error)) from None
    raise CatalogError(f"unknown backend {backend!r}")
