"""What each backend module declares about itself, once: `ENTRY = BackendEntry(...)`.

Settings, the model catalog, the registry, `doctor`, `.env.example`/README and the
test harness all read a backend's facts from its entry, so adding a backend is its
module, its loopback test server and its docs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, SecretStr

from bot.backends.base import Backend, BackendCapabilities, ExternalWait, await_directly

if TYPE_CHECKING:
    from bot.backends.http import HttpTimeouts, RetryPolicy
    from bot.models import ModelCatalog
    from bot.settings import Settings


class BackendSettings(BaseModel):
    """A backend's own variables; `Settings` inherits every backend's class.

    One field per environment variable (its name upper-cased); `SecretStr` fields are
    secrets. `backend_name` ties the class to its entry.
    """

    backend_name: ClassVar[str]


@dataclass(frozen=True, slots=True)
class KeyRule:
    """An API key (or secret) the backend cannot work without."""

    field: str  # the Settings attribute; the variable is its upper-cased name
    prefix: str = ""  # what the provider's keys look like; a mismatch is only a hint

    @property
    def variable(self) -> str:
        return self.field.upper()

    def read(self, settings: Settings) -> str:
        value = getattr(settings, self.field)
        return value.get_secret_value() if isinstance(value, SecretStr) else ""


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Everything a factory may read. Tests pass tighter timeouts and retries."""

    settings: Settings
    catalog: ModelCatalog
    wait: ExternalWait = await_directly
    timeouts: HttpTimeouts | None = None
    retry: RetryPolicy | None = None

    def http_options(self) -> dict[str, Any]:
        return {"wait": self.wait, "timeouts": self.timeouts, "retry": self.retry}


@dataclass(frozen=True, slots=True)
class ModelDefaults:
    """What the one model of a `.env`-only setup gets beyond the capabilities."""

    cost_per_second: float = 0.0  # US dollars, the catalog's default currency
    max_concurrency: int = 2
    default_seconds: int | None = None
    description: str = ""


# An offline check: a plain problem, or None when all is well.
OfflineCheck = Callable[["Settings", "ModelCatalog"], "str | None"]
# A check that contacts the provider (never a paid call): (ok, plain line).
OnlineCheck = Callable[["Settings", "ModelCatalog"], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True, slots=True)
class BackendEntry:
    name: str
    settings: type[BackendSettings]
    capabilities: BackendCapabilities
    build: Callable[[BuildContext], Backend]
    # The provider model id `.env` gives (FAL_MODEL, RUNWAY_MODEL, the workflow path...).
    provider_model: Callable[[Settings], str]
    keys: tuple[KeyRule, ...] = ()
    # Set when the backend has no default model: the variable that must name one.
    model_variable: str | None = None
    defaults: ModelDefaults = field(default_factory=ModelDefaults)
    # Per-model capabilities where they depend on the model id (a ComfyUI workflow's markers).
    capabilities_for: Callable[[str], BackendCapabilities] | None = None
    checks: tuple[OfflineCheck, ...] = ()
    online_checks: tuple[OnlineCheck, ...] = ()
    # What `doctor` says when every offline check passes.
    ready: Callable[[Settings, ModelCatalog], str] | None = None

    @property
    def variables(self) -> list[str]:
        return [name.upper() for name in self.settings.model_fields]

    def model_capabilities(self, provider_model: str) -> BackendCapabilities:
        if self.capabilities_for is not None and provider_model:
            return self.capabilities_for(provider_model)
        return self.capabilities
