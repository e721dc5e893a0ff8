from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from bot.store.opening import configured_url
from bot.store.urls import UnsupportedDatabase, redacted, sqlite_path, sqlite_url, store_kind


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bot:hunter2@db.example:5432/footage", "postgresql://bot:***@db.example:5432/footage"),
        ("postgres://bot@db.example/footage", "postgres://bot@db.example/footage"),
        (
            "postgresql:///footage?host=/run/postgresql&password=hunter2",
            "postgresql:///footage?host=/run/postgresql&password=***",
        ),
        ("postgresql://bot:p%40ss@[::1]:5432/footage", "postgresql://bot:***@[::1]:5432/footage"),
        ("sqlite:///data/footage.db", "sqlite:///data/footage.db"),
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert "hunter2" not in redacted(url) and "p%40ss" not in redacted(url)


def test_sqlite_urls_carry_relative_and_absolute_paths() -> None:
    assert sqlite_path(sqlite_url(Path("data/footage.db"))) == Path("data/footage.db")
    assert sqlite_path("sqlite:////var/lib/footage.db") == Path("/var/lib/footage.db")
    assert store_kind("sqlite:///x.db") == "sqlite" and store_kind("postgres://h/db") == "postgresql"
    with pytest.raises(UnsupportedDatabase, match="'mysql'"):
        store_kind("mysql://bot:hunter2@h/db")


def test_database_url_defaults_to_the_sqlite_file_and_is_checked_without_being_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "footage.db"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert configured_url(load_settings(_env_file=None)) == f"sqlite:///{tmp_path / 'footage.db'}"
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:hunter2@db.example/footage")
    settings = load_settings(_env_file=None)
    assert configured_url(settings) == "postgresql://bot:hunter2@db.example/footage"
    assert "hunter2" not in repr(settings)
    monkeypatch.setenv("DATABASE_URL", "mysql://bot:hunter2@db.example/footage")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert "DATABASE_URL" in str(error.value) and "hunter2" not in str(error.value)
