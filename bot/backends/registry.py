"""Every backend's entry, the catalog resolved against them, one adapter per backend used.

`ENTRIES` holds each backend's entry, found through `Settings`'s bases (the one list of
backends, which typed settings need anyway): a backend's settings class lives in its
module beside its `ENTRY`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bot.backends.base import Backend, ExternalWait, await_directly
from bot.backends.entry import BackendEntry, BuildContext
from bot.backends.http import HttpTimeouts, RetryPolicy
from bot.models import CatalogError, ModelCatalog, ModelSpec, load_catalog_file
from bot.settings import Settings, backend_settings


def _entries() -> dict[str, BackendEntry]:
    found: dict[str, BackendEntry] = {}
    for variables in backend_settings():
        entry = getattr(sys.modules[variables.__module__], "ENTRY", None)
        if (
            not isinstance(entry, BackendEntry)
            or entry.settings is not variables
            or entry.name != variables.backend_name
        ):
            raise TypeError(f"{variables.__module__} needs ENTRY = BackendEntry(settings={variables.__name__}, ...)")
        found[entry.name] = entry
    return found


ENTRIES: dict[str, BackendEntry] = _entries()
_MIN_KEY_LENGTH = 16
ONLINE_CHECK_SECONDS = 20.0


def entry_for(backend: str) -> BackendEntry:
    try:
        return ENTRIES[backend]
    except KeyError:
        raise CatalogError(f"unknown backend {backend!r} (known: {', '.join(ENTRIES)})") from None


def load_catalog(settings: Settings) -> ModelCatalog:
    """Models from `FOOTAGE_CONFIG` when set, else the one `.env` describes; capabilities filled in."""
    if settings.footage_config is None:
        catalog = ModelCatalog([_env_model(settings)])
    else:
        catalog = load_catalog_file(settings.footage_config)
        source = str(settings.footage_config)
        for name in sorted(set(catalog.backend_limits) - set(ENTRIES)):
            raise CatalogError(f"{source}: backend {name!r}: unknown (known: {', '.join(ENTRIES)})")
        for model in catalog:
            if model.backend not in ENTRIES:
                known = ", ".join(ENTRIES)
                raise CatalogError(
                    f"{source}: model {model.name!r}, field backend: unknown {model.backend!r} ({known})"
                )
    return ModelCatalog([resolve_model(model) for model in catalog], catalog.backend_limits, catalog.currency)


def _env_model(settings: Settings) -> ModelSpec:
    entry = entry_for(settings.footage_backend)
    provider_model = entry.provider_model(settings)
    offers = entry.model_capabilities(provider_model)
    defaults = entry.defaults
    return ModelSpec(
        name=entry.name,
        backend=entry.name,
        provider_model=provider_model,
        description=defaults.description or f"{entry.name} ({provider_model})",
        durations=offers.durations,
        aspects=offers.aspects,
        default_seconds=defaults.default_seconds,
        cost_per_second=defaults.cost_per_second,
        max_concurrency=defaults.max_concurrency,
    )


def resolve_model(model: ModelSpec) -> ModelSpec:
    """Fill what the model leaves open from its backend; refuse what the backend cannot do."""
    offers = entry_for(model.backend).model_capabilities(model.provider_model)
    update: dict[str, Any] = {}
    # Sound that can be switched off starts off, as the providers' own defaults do.
    audio_by_default = offers.audio and not offers.audio_optional
    fields = (
        ("image_to_video", offers.image_to_video, offers.image_to_video),
        ("audio", offers.audio, audio_by_default),
        ("audio_optional", offers.audio_optional, offers.audio_optional),
    )
    for field, offered, by_default in fields:
        wanted = getattr(model, field)
        if wanted is None:
            update[field] = by_default
        elif wanted and not offered:
            raise CatalogError(f"model {model.name!r}: {field} = true, but backend {model.backend} cannot do it")
    return model.model_copy(update=update)


def _models_using(catalog: ModelCatalog, backend: str) -> str:
    return ", ".join(repr(model.name) for model in catalog if model.backend == backend)


def _key_problem(settings: Settings, catalog: ModelCatalog, entry: BackendEntry) -> str | None:
    needed_by = f"(needed by model {_models_using(catalog, entry.name)})"
    for rule in entry.keys:
        value = rule.read(settings)
        if not value.strip():
            return f"{rule.variable} is not set {needed_by}"
        if value != value.strip() or any(char.isspace() for char in value):
            return f"{rule.variable} contains spaces or line breaks; copy the key again {needed_by}"
        if len(value) < _MIN_KEY_LENGTH:
            return f"{rule.variable} is too short to be an API key {needed_by}"
    return None


def _key_hint(settings: Settings, entry: BackendEntry) -> str:
    hints = [
        f"; note: {entry.name} keys usually start with {rule.prefix!r}"
        for rule in entry.keys
        if rule.prefix and not rule.read(settings).startswith(rule.prefix)
    ]
    return "".join(hints)


def _model_problem(settings: Settings, catalog: ModelCatalog, entry: BackendEntry) -> str | None:
    """A backend with no default model needs a provider id for every model."""
    if entry.model_variable is None:
        return None
    default = entry.provider_model(settings)
    missing = [model.name for model in catalog if model.backend == entry.name and not (model.provider_model or default)]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        return f"{entry.model_variable} is not set and model {names} has no provider_model"
    return None


def _problem(settings: Settings, catalog: ModelCatalog, entry: BackendEntry) -> str | None:
    for check in entry.checks:
        if (problem := check(settings, catalog)) is not None:
            return problem
    return _key_problem(settings, catalog, entry) or _model_problem(settings, catalog, entry)


def _ready(settings: Settings, catalog: ModelCatalog, entry: BackendEntry) -> str:
    if entry.ready is not None:
        return entry.ready(settings, catalog)
    variables = " and ".join(rule.variable for rule in entry.keys)
    return f"{variables} {'are' if len(entry.keys) > 1 else 'is'} set{_key_hint(settings, entry)}"


def check_backend_settings(settings: Settings, catalog: ModelCatalog) -> list[tuple[str, bool, str]]:
    """(backend, ok, plain message) for every backend the catalog uses; for `doctor`."""
    report: list[tuple[str, bool, str]] = []
    for backend in sorted(catalog.backends()):
        entry = entry_for(backend)
        problem = _problem(settings, catalog, entry)
        report.append(
            (backend, False, problem) if problem is not None else (backend, True, _ready(settings, catalog, entry))
        )
    return report


def build_backends(
    settings: Settings,
    catalog: ModelCatalog,
    wait: ExternalWait = await_directly,
    *,
    timeouts: HttpTimeouts | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Backend]:
    """One adapter per backend named in the catalog. Raises CatalogError naming what is missing."""
    context = BuildContext(settings, catalog, wait, timeouts, retry)
    backends: dict[str, Backend] = {}
    for backend in sorted(catalog.backends()):
        entry = entry_for(backend)
        problem = _problem(settings, catalog, entry)
        if problem is not None:
            raise CatalogError(problem)
        backends[backend] = entry.build(context)
    return backends


async def contact_backends(settings: Settings, catalog: ModelCatalog) -> list[tuple[str, bool, str]]:
    """(backend, ok, plain line) from each provider's free checks; for `doctor` (never a paid call)."""
    report: list[tuple[str, bool, str]] = []
    for backend in sorted(catalog.backends()):
        entry = entry_for(backend)
        if _problem(settings, catalog, entry) is not None:
            continue  # the offline line already says what is wrong
        for check in entry.online_checks:
            try:
                async with asyncio.timeout(ONLINE_CHECK_SECONDS):
                    ok, line = await check(settings, catalog)
            except TimeoutError:
                ok, line = False, f"no answer within {ONLINE_CHECK_SECONDS:g} s"
            report.append((backend, ok, f"{line} (contacted the provider)"))
    return report
