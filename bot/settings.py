"""Every setting the bot reads, typed, from the environment and `.env`.

Secrets are `SecretStr`: pydantic never prints them, and nothing in this project
calls `get_secret_value()` except where the secret is put on the wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

BackendName = Literal["demo", "fal", "replicate", "comfyui", "runway", "luma"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
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
    dev_guild_id: int | None = Field(default=None, gt=0)
    # Discord allows a bot 50 REST requests per second; the processes that post clips share this.
    discord_requests_per_second: float = Field(default=40.0, ge=1, le=50)

    # Running
    log_level: LogLevel = "INFO"
    database_path: Path = Path("data/footage.db")
    preview_database_path: Path = Path("data/preview.db")
    media_dir: Path = Path("data/clips")
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    # Models and backends
    footage_config: Path | None = None
    footage_backend: BackendName = "demo"
    demo_latency_seconds: float = Field(default=0.0, ge=0, le=600)

    fal_key: SecretStr | None = None
    fal_model: str | None = None
    fal_queue_url: AnyHttpUrl = AnyHttpUrl("https://queue.fal.run")

    replicate_api_token: SecretStr | None = None
    replicate_model: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    replicate_base_url: AnyHttpUrl = AnyHttpUrl("https://api.replicate.com/v1")

    comfyui_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8188")
    comfyui_workflow: Path | None = None

    runwayml_api_secret: SecretStr | None = None
    runway_model: str = "gen4.5"
    runway_base_url: AnyHttpUrl = AnyHttpUrl("https://api.dev.runwayml.com")

    lumaai_api_key: SecretStr | None = None
    luma_model: str = "ray-2"
    luma_base_url: AnyHttpUrl = AnyHttpUrl("https://api.lumalabs.ai/dream-machine/v1")

    # Quotas: the default tier every member gets unless a role or override says otherwise.
    default_daily_seconds: int = Field(default=60, ge=0)
    default_monthly_seconds: int = Field(default=600, ge=0)
    default_max_running: int = Field(default=1, ge=1)
    default_max_queued: int = Field(default=3, ge=1)
    default_max_clip_seconds: int = Field(default=10, ge=1)

    # Scheduling
    guild_max_running: int = Field(default=4, ge=1)
    job_timeout_seconds: float = Field(default=1800, ge=10)
    prompt_max_chars: int = Field(default=1000, ge=10, le=4000)
    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)


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
