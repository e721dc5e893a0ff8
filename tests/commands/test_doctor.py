from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.migrations import migrations
from bot.store.opening import open_store

GOOD_TOKEN = base64.urlsafe_b64encode(b"123456789012345678").decode().rstrip("=") + ".GhJkLm." + "x" * 38


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in ("DISCORD_TOKEN", "DATABASE_URL", "FOOTAGE_BACKEND", "FOOTAGE_CONFIG", "FAL_KEY", "FAL_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "data" / "footage.db"))


def test_doctor_passes_with_a_token_and_the_demo_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] discord token: well-formed, for application 123456789012345678" in out
    assert "[PASS] ffmpeg" in out and "[PASS] backend demo" in out and "[PASS] database" in out
    assert GOOD_TOKEN not in out


def test_doctor_fails_on_missing_token_and_incomplete_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FOOTAGE_BACKEND", "fal")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] discord token: DISCORD_TOKEN is not set" in out
    assert "[FAIL] backend fal" in out and "FAL_KEY" in out


def test_doctor_for_the_preview_needs_no_token_and_checks_the_preview_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FOOTAGE_BACKEND", "fal")  # the preview renders with the demo whatever this says
    monkeypatch.setenv("PREVIEW_DATABASE_PATH", str(tmp_path / "data" / "preview.db"))
    assert main(["doctor", "--no-token-needed"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] discord token: not set" in out and "[PASS] backend demo" in out
    assert "preview.db is writable" in out and "footage.db" not in out
    assert "0 failed" in out


def test_doctor_rejects_a_malformed_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-token")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "does not look like a bot token" in out and "not-a-token" not in out


def test_doctor_names_the_bad_model_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "footage.toml"
    config.write_text('[models.fast]\nbackend = "demo"\ndurations = [4]\naspects = ["sixteen-nine"]\n')
    monkeypatch.setenv("FOOTAGE_CONFIG", str(config))
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "footage.toml: model 'fast', field aspects" in out


def test_doctor_checks_a_postgresql_database_reachable_migrated_and_its_ledger(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    count = len(migrations("bot.store.postgres"))
    assert "[PASS] database: " in out and f"reachable; {count} migration(s) apply at start: 0001_initial.sql" in out
    assert f"[PASS] quota ledger: not checked: {count} migration(s) apply when the bot starts" in out

    async def start_once() -> None:
        await (await open_store(postgres_url)).close()

    asyncio.run(start_once())
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "reachable, every migration applied" in out
    assert "[PASS] quota ledger: reserved + used equals the ledger for every job" in out


def test_doctor_says_an_unreachable_postgresql_fails_and_never_shows_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unused_tcp_port: int
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://bot:hunter2@127.0.0.1:{unused_tcp_port}/footage")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"[FAIL] database: cannot reach postgresql://bot:***@127.0.0.1:{unused_tcp_port}/footage" in out
    assert "[FAIL] quota ledger: not checked" in out and "hunter2" not in out
