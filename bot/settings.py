"""Every setting the bot reads, typed, from the environment and `.env`.

The core's settings are here; each backend declares its own variables in its module
(`<Name>Settings`), and `Settings` inherits them all: adding a backend adds one base, and
the registry finds the backend's entry through it (the bases are the one list of backends).
Secrets are `SecretStr`: pydantic never prints them, and nothing in this project
calls `get_secret_value()` except where the secret is put on the wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.backends.comfyui import ComfyUISettings
from bot.backends.demo import DemoSettings
from bot.backends.entry import BackendSettings
from bot.backends.fal import FalSettings
from bot.backends.kling import KlingSettings
from bot.backends.luma import LumaSettings
from bot.backends.replicate import ReplicateSettings
from bot.backends.runway import RunwaySettings
from bot.backends.veo import VeoSettings
from bot.domain.tiers import MAX_CLIP_SECONDS, MAX_QUEUED, MAX_QUOTA_SECONDS, MAX_RUNNING
from bot.store.urls import store_kind


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# Enumerated values are accepted in any case (LOG_LEVEL=info); the stored form is the canonical one.
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class CoreSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
        env_ignore_empty=True,
    )

    # Discord
    discord_token: SecretStr | None = None
    dev_guild_id: int | None = Field(default=None, gt=0, lt=2**63)
    # Discord allows a bot 50 REST requests per second; the processes that post clips share this.
    discord_requests_per_second: float = Field(default=40.0, ge=1, le=50)
    # Sharding (Discord requires it from 2,500 guilds): this process runs SHARD_IDS of SHARD_COUNT.
    shard_count: int | None = Field(default=None, ge=1, le=1024)
    shard_ids: Annotated[list[int], NoDecode] | None = None

    # Running
    log_level: LogLevel = "INFO"
    database_path: Path = Path("data/footage.db")
    # postgresql://user:password@host:port/database; unset = the SQLite file at DATABASE_PATH.
    database_url: SecretStr | None = None
    preview_database_path: Path = Path("data/preview.db")
    media_dir: Path = Path("data/clips")
    # Clips on disk: kept this many days after posting (0: removed once posted), the folder
    # capped (oldest posted first), and no job starts or fetches below this much free space.
    media_retention_days: float = Field(default=7, ge=0, le=3650)
    media_max_bytes: int = Field(default=10 * 1024**3, ge=1024**2)
    disk_min_free_bytes: int = Field(default=500 * 1024**2, ge=0)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    # Models and backends
    footage_config: Path | None = None
    footage_backend: str = "demo"

    # Quotas: the default tier every member gets unless a role or override says otherwise.
    default_daily_seconds: int = Field(default=60, ge=0, le=MAX_QUOTA_SECONDS)
    default_monthly_seconds: int = Field(default=600, ge=0, le=MAX_QUOTA_SECONDS)
    default_max_running: int = Field(default=1, ge=1, le=MAX_RUNNING)
    default_max_queued: int = Field(default=3, ge=1, le=MAX_QUEUED)
    default_max_clip_seconds: int = Field(default=10, ge=1, le=MAX_CLIP_SECONDS)

    # Scheduling
    guild_max_running: int = Field(default=4, ge=1, le=MAX_RUNNING)
    job_timeout_seconds: float = Field(default=1800, ge=10, le=24 * 3600)
    prompt_max_chars: int = Field(default=1000, ge=10, le=4000)
    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)

    # Re-encoding clips over the upload limit; unset: from the machine's CPUs and memory.
    fit_parallel: int | None = Field(default=None, ge=1, le=64)
    fit_threads: int | None = Field(default=None, ge=1, le=64)
    fit_memory_mib: int | None = Field(default=None, ge=128, le=65536)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            store_kind(value.get_secret_value())  # its message names the scheme, never the URL
        return value

    # Worker processes (with PostgreSQL): a dead worker's jobs are taken over within LEASE_SECONDS.
    lease_seconds: float = Field(default=30.0, ge=3, le=600)
    worker_max_jobs: int = Field(default=8, ge=1, le=1000)

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return [int(part) for part in value.replace(" ", "").split(",") if part]
            except ValueError:
                raise ValueError("must be shard numbers separated by commas, e.g. 0,1") from None
        return value

    @model_validator(mode="after")
    def _shards_within_count(self) -> CoreSettings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("SHARD_IDS needs SHARD_COUNT (how many shards there are in all)")
            if not self.shard_ids or any(not 0 <= shard < self.shard_count for shard in self.shard_ids):
                raise ValueError(f"SHARD_IDS must be between 0 and {self.shard_count - 1} (SHARD_COUNT - 1)")
        return self

    @field_validator("footage_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        names = backend_names()
        value = value.strip().lower()  # FOOTAGE_BACKEND=Fal is fal
        if value not in names:
            # The message lists the choices and never repeats the value (it may be a pasted key).
            raise ValueError(f"must be one of {', '.join(names)}")
        return value


class Settings(
    CoreSettings,
    DemoSettings,
    FalSettings,
    ReplicateSettings,
    ComfyUISettings,
    RunwaySettings,
    LumaSettings,
    VeoSettings,
    KlingSettings,
):
    """The core's settings plus every backend's."""


def backend_settings() -> list[type[BackendSettings]]:
    """Each backend's variables, in the order of `Settings`'s bases: the one list of backends."""
    return [base for base in Settings.__mro__ if issubclass(base, BackendSettings) and "backend_name" in vars(base)]


def backend_names() -> list[str]:
    """The backends `Settings` has variables for, in the order of its bases."""
    return [base.backend_name for base in backend_settings()]


class SettingsError(Exception):
    """Raised with one plain line per invalid variable; never carries a value."""


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into lines that name each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for problem in error.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
            lines.append(f"{name}: {problem['msg']}")
        raise SettingsError("\n".join(lines)) from None
