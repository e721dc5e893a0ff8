"""The catalog of video models an admin offers, as read from `footage.toml`.

Each model names its backend, the provider's model id, what lengths and shapes it
allows, its defaults and its cost. Which backends exist, and what a `.env`-only
setup gets, is the backend registry's business (`bot.backends.registry.load_catalog`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.money import CURRENCY_PATTERN, DEFAULT_CURRENCY, to_micros

ASPECT_PATTERN = r"^\d{1,2}:\d{1,2}$"
BACKEND_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
MAX_PRICE_PER_SECOND = 1000.0  # far above any provider's rate: a larger one is a typo


@dataclass(frozen=True, slots=True)
class BackendCapabilities:
    """What a backend (and so each of its models, unless the model narrows it) can do."""

    text_to_video: bool = True
    image_to_video: bool = False
    seed: bool = True
    negative_prompt: bool = False
    cancel: bool = True
    # Submits carry a client-chosen id the provider deduplicates, so a submit
    # interrupted by a crash can safely be sent again.
    idempotent_submit: bool = False
    # The clip comes with a sound track; `audio_optional`: the request can switch it off.
    audio: bool = False
    audio_optional: bool = False
    # The provider asks not to be polled more often than this (seconds).
    min_poll_gap: float = 0.0
    # What a model configured from `.env` alone offers.
    durations: tuple[int, ...] = (5, 10)
    aspects: tuple[str, ...] = ("16:9", "9:16", "1:1")


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")
    backend: str = Field(pattern=BACKEND_NAME_PATTERN)
    provider_model: str = ""
    description: str = ""
    durations: tuple[int, ...] = Field(min_length=1)
    aspects: tuple[str, ...] = Field(min_length=1)
    default_seconds: int | None = None
    default_aspect: str | None = None
    params: Mapping[str, Any] = Field(default_factory=dict)
    # In the catalog's currency; None: no price known (see `price_micros`).
    cost_per_second: float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_SECOND)
    max_concurrency: int = Field(default=2, ge=1, le=100)
    # Seconds from submit to the provider's result, until the bot has measured it.
    run_seconds: float | None = Field(default=None, gt=0, le=3600)
    # None: as the backend offers (the registry fills it in when it loads the catalog).
    image_to_video: bool | None = None
    # The clip has sound unless the requester says otherwise; `audio_optional`: they may.
    audio: bool | None = None
    audio_optional: bool | None = None
    enabled: bool = True

    @field_validator("durations")
    @classmethod
    def _positive_durations(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(seconds < 1 or seconds > 60 for seconds in value):
            raise ValueError("every duration must be between 1 and 60 seconds")
        return tuple(sorted(set(value)))

    @field_validator("aspects")
    @classmethod
    def _aspect_shapes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for aspect in value:
            if not re.fullmatch(ASPECT_PATTERN, aspect):
                raise ValueError(f"aspect {aspect!r} must look like 16:9")
        return value

    @model_validator(mode="after")
    def _defaults_allowed(self) -> ModelSpec:
        if self.default_seconds is not None and self.default_seconds not in self.durations:
            raise ValueError(f"default_seconds {self.default_seconds} is not one of durations {self.durations}")
        if self.default_aspect is not None and self.default_aspect not in self.aspects:
            raise ValueError(f"default_aspect {self.default_aspect!r} is not one of aspects {self.aspects}")
        return self

    @property
    def seconds_default(self) -> int:
        return self.default_seconds if self.default_seconds is not None else self.durations[0]

    @property
    def aspect_default(self) -> str:
        return self.default_aspect if self.default_aspect is not None else self.aspects[0]

    def sound_for(self, chosen: bool | None) -> bool:
        """Whether the clip has sound: the requester's choice (None: none made), else the model's."""
        return bool(self.audio) if chosen is None else chosen

    def sound_refusal(self, chosen: bool | None) -> str | None:
        """Why the requester's sound choice cannot be had from this model, in plain words; None if it can."""
        if chosen is None or self.audio_optional or chosen == bool(self.audio):
            return None
        if self.audio:
            return f"{self.name} always makes its clips with sound; leave out the audio option or choose another model."
        return f"{self.name} makes clips without sound; choose a model with sound or leave out the audio option."

    def price_micros(self, seconds: int) -> int | None:
        """The estimated cost of a clip of `seconds`, in micro-units; None when the model has no price."""
        if self.cost_per_second is None:
            return None
        return seconds * _micros_per_second(self.cost_per_second)


# Asked at every enqueue; a decimal conversion of the same few catalog prices each time.
@lru_cache(maxsize=256)
def _micros_per_second(cost_per_second: float) -> int:
    return to_micros(cost_per_second)


class CatalogError(Exception):
    """Bad model configuration; the message names the file, the model and the field."""


class ModelCatalog:
    def __init__(
        self,
        models: list[ModelSpec],
        backend_limits: Mapping[str, int] | None = None,
        currency: str = DEFAULT_CURRENCY,
    ) -> None:
        if not models:
            raise CatalogError("no models are configured")
        self._models = {model.name: model for model in models}
        self.default = models[0]
        # The one currency every `cost_per_second` and every money budget is in.
        self.currency = currency
        # One provider account often caps all its models together (fal: 2-40 jobs at once).
        self._backend_limits = dict(backend_limits or {})
        # What dispatch and every ETA ask for, worked out once: the catalog never changes.
        totals: dict[str, int] = {}
        for model in self._models.values():
            totals[model.backend] = totals.get(model.backend, 0) + model.max_concurrency
        self._limit_by_backend = {
            backend: min(self._backend_limits.get(backend, total), total) for backend, total in totals.items()
        }
        self.parallel_slots = sum(self._limit_by_backend.values())

    def backend_limit(self, backend: str) -> int:
        """Jobs that may run at once across all models of `backend`."""
        return self._limit_by_backend.get(backend, 0)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def get(self, name: str) -> ModelSpec | None:
        return self._models.get(name)

    def names(self) -> list[str]:
        return list(self._models)

    def backends(self) -> set[str]:
        return set(self._limit_by_backend)

    @property
    def backend_limits(self) -> dict[str, int]:
        """The `[backends.NAME]` caps as configured."""
        return dict(self._backend_limits)


def _describe(error: ValidationError, source: str, model_name: str) -> str:
    problem = error.errors(include_input=False, include_url=False)[0]
    fields = ".".join(str(part) for part in problem["loc"]) or "model"
    return f"{source}: model {model_name!r}, field {fields}: {problem['msg']}"


def load_catalog_file(path: Path) -> ModelCatalog:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found (FOOTAGE_CONFIG)") from None
    except IsADirectoryError:
        raise CatalogError(f"{path}: is a folder, not a TOML file (FOOTAGE_CONFIG)") from None
    except OSError as error:
        raise CatalogError(f"{path}: cannot be read: {error.strerror or error} (FOOTAGE_CONFIG)") from None
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: is not UTF-8 text (FOOTAGE_CONFIG)") from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: not valid TOML: {error}") from None
    tables = document.get("models")
    if not isinstance(tables, dict) or not tables:
        raise CatalogError(f"{path}: needs at least one [models.NAME] table")
    backend_limits = _backend_limits(path, document.get("backends", {}))
    currency = _currency(path, document.get("currency", DEFAULT_CURRENCY))
    models: list[ModelSpec] = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise CatalogError(f"{path}: model {name!r}: must be a table")
        try:
            models.append(ModelSpec(name=name, **table))
        except ValidationError as error:
            raise CatalogError(_describe(error, str(path), name)) from None
    enabled = [model for model in models if model.enabled]
    if not enabled:
        raise CatalogError(f"{path}: every model is disabled")
    return ModelCatalog(enabled, backend_limits, currency)


def _currency(path: Path, value: object) -> str:
    """`currency = "EUR"`: what the prices (and so the servers' money budgets) are written in."""
    if not isinstance(value, str) or not re.fullmatch(CURRENCY_PATTERN, value):
        raise CatalogError(f"{path}: field currency: must be a three-letter currency code such as USD or EUR")
    return value


def _backend_limits(path: Path, tables: object) -> dict[str, int]:
    """`[backends.NAME] max_concurrency = N`: a cap shared by every model of that backend."""
    if not isinstance(tables, dict):
        raise CatalogError(f"{path}: [backends] must be a table of [backends.NAME] tables")
    limits: dict[str, int] = {}
    for name, table in tables.items():
        limit = table.get("max_concurrency") if isinstance(table, dict) else None
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            raise CatalogError(f"{path}: backend {name!r}, field max_concurrency: must be a whole number from 1 to 100")
        limits[name] = limit
    return limits
