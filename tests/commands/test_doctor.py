from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.domain.records import LedgerEntry
from bot.quotas import ledger
from bot.store.migrations import migrations
from bot.store.opening import open_store
from bot.store.transaction import Tx
from bot.store.urls import sqlite_url
from tests.store.test_store import a_job

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


def doctor(monkeypatch: pytest.MonkeyPatch) -> int:
    """`footage-bot doctor` on the bot's own settings (DATABASE_PATH), with a well-formed token."""
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    return main(["doctor"])


def _real_database(path: Path) -> None:
    async def create() -> None:
        store = await open_store(sqlite_url(path))
        await store.close()

    asyncio.run(create())
    assert path.stat().st_size > 0


def _corrupt(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite " * 500)


def _truncated(path: Path) -> None:
    _real_database(path)
    data = path.read_bytes()
    for leftover in path.parent.glob(path.name + "-*"):
        leftover.unlink()
    path.write_bytes(data[: len(data) // 3] + b"\x00" * 100)


def _folder(path: Path) -> None:
    path.mkdir(parents=True)


def _empty(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (_corrupt, "is not an SQLite database"),
        (_truncated, "is damaged"),
        (_folder, "is a folder"),
        (_empty, "is an empty file (0 bytes)"),
    ],
)
def test_a_bad_database_file_is_one_line_and_every_other_check_still_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: Any, problem: str
) -> None:
    path = tmp_path / "data" / "footage.db"
    spoil(path)
    capsys.readouterr()
    assert doctor(monkeypatch) == 1
    out, err = capsys.readouterr()
    assert f"[FAIL] database: database {path}: {problem}" in out
    assert "[PASS] ffmpeg" in out and "[PASS] media folder" in out and "[PASS] models" in out
    assert "[FAIL] quota ledger: not checked" in out
    assert "Traceback" not in out + err


def test_dev_null_as_the_database_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_PATH", "/dev/null")
    assert doctor(monkeypatch) == 1
    out = capsys.readouterr().out
    assert "[FAIL] database: database /dev/null: is not a regular file" in out


def test_start_up_on_a_locked_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "preview.db"
    _real_database(path)
    monkeypatch.setenv("PREVIEW_DATABASE_PATH", str(path))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process's write lock, past SQLite's 5 s busy_timeout
        assert main(["preview"]) == 2
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"footage-bot: database {path}: " + (
        "is locked by another process (another bot, or a tool holding a write lock); stop it and retry"
    )


def test_start_up_with_a_bad_database_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "preview.db"
    _folder(path)
    monkeypatch.setenv("PREVIEW_DATABASE_PATH", str(path))
    assert main(["preview"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"footage-bot: database {path}: is a folder, not a database file"
    assert "Traceback" not in err


def test_a_model_file_that_is_a_folder_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FOOTAGE_CONFIG", str(tmp_path))
    assert doctor(monkeypatch) == 1
    out = capsys.readouterr().out
    assert f"[FAIL] models: {tmp_path}: is a folder, not a TOML file (FOOTAGE_CONFIG)" in out
    assert "[PASS] ffmpeg" in out
    assert main(["preview"]) == 2
    assert "is a folder, not a TOML file" in capsys.readouterr().err


def test_an_unwritable_media_folder_fails_its_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clips").write_text("a file where the folder should be")
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "clips"))
    assert doctor(monkeypatch) == 1
    assert f"[FAIL] media folder: cannot write in {tmp_path / 'clips'}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEFAULT_MAX_RUNNING", "99999999999999999999"),
        ("JOB_TIMEOUT_SECONDS", "inf"),
        ("JOB_TIMEOUT_SECONDS", "nan"),
        ("DEFAULT_DAILY_SECONDS", str(10**20)),
        ("IMAGE_MAX_BYTES", str(10**12)),
    ],
)
def test_numeric_settings_out_of_range_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert doctor(monkeypatch) == 2
    err = capsys.readouterr().err
    assert f"{name}: " in err and "Traceback" not in err


def test_doctor_finds_a_ledger_that_is_off_in_money_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store_url: str
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("DATABASE_URL", store_url)
    job = a_job()
    job.cost_micros = 1_000_000

    def reserve_a_cent_too_much(tx: Tx) -> None:
        tx.insert_job(job)
        ledger.reserve(tx, job, 1.0)
        tx.add_ledger(job, [LedgerEntry("reserve", 0, 0, 10_000)], 1.0)

    async def write() -> None:
        store = await open_store(store_url)
        try:
            await store.write(reserve_a_cent_too_much)
        finally:
            await store.close()

    asyncio.run(write())
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    line = f"{job.id} (queued: ledger 2 s and 1.01, expected 2 s and 1.00)"
    assert f"[FAIL] quota ledger: 1 job(s) disagree with the ledger: {line}" in out
