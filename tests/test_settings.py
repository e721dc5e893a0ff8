from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_env_example_and_readme() -> None:
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        variable = name.upper()
        assert re.search(rf"^{variable}=", example, re.MULTILINE), f"{variable} missing from .env.example"
        assert f"`{variable}`" in readme, f"{variable} missing from the README's settings table"


def test_env_example_loads_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.discord_token is None and settings.footage_backend == "demo"


def test_invalid_value_names_the_variable_and_never_echoes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOTAGE_BACKEND", "sora")
    monkeypatch.setenv("DEFAULT_DAILY_SECONDS", "-5")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    text = str(error.value)
    assert "FOOTAGE_BACKEND" in text and "DEFAULT_DAILY_SECONDS" in text
    assert "sora" not in text and "must be one of demo, fal" in text


def test_enumerated_values_are_accepted_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "info")
    monkeypatch.setenv("FOOTAGE_BACKEND", " Demo")
    settings = load_settings(_env_file=None)
    assert settings.log_level == "INFO" and settings.footage_backend == "demo"


def test_cli_reports_bad_settings_in_one_line_per_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    assert main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert "LOG_LEVEL" in err and "Traceback" not in err


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_KEY", "fal-super-secret-value")
    settings = load_settings(_env_file=None)
    assert "fal-super-secret-value" not in repr(settings)
    assert "fal-super-secret-value" not in str(settings.model_dump())
