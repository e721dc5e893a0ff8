"""`footage-bot doctor`: check what an admin most often gets wrong, one plain line per check."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.backends.registry import check_backend_settings, contact_backends, load_catalog
from bot.domain.money import format_amount
from bot.domain.records import LedgerMismatch
from bot.media.disk_guard import WAITING_STATUS, describe, free_space, low_readings
from bot.models import CatalogError, ModelCatalog
from bot.quotas import ledger
from bot.safe_text import one_line
from bot.settings import Settings
from bot.store.opening import configured_url, open_store, pending_migrations
from bot.store.store import DatabaseUnreachable
from bot.store.urls import redacted, sqlite_path, sqlite_url, store_kind

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-token-needed",
        action="store_true",
        help="check the local preview's set-up: no DISCORD_TOKEN needed, the preview's database and backend",
    )
    parser.add_argument(
        "--offline", action="store_true", help="skip the checks that contact a provider (ComfyUI, Gemini...)"
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    if args.no_token_needed:
        settings = for_the_preview(settings)
    checks = run_checks(settings, token_needed=not args.no_token_needed, offline=args.offline)
    for check in checks:
        print(f"[{'PASS' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    failed = [check for check in checks if not check.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def run_checks(settings: Settings, *, token_needed: bool = True, offline: bool = True) -> list[Check]:
    database = _guarded("database", lambda: check_database(settings))
    checks = [
        _guarded("discord token", lambda: check_token(settings, token_needed)),
        database,
        _guarded("media folder", lambda: check_media_dir(settings)),
        _guarded("disk space", lambda: check_disk(settings)),
        _guarded("ffmpeg", check_ffmpeg),
    ]
    try:
        catalog = load_catalog(settings)
    except CatalogError as error:
        checks.append(Check("models", False, str(error)))
    else:
        checks.append(Check("models", True, f"{len(catalog)} configured: {', '.join(catalog.names())}"))
        checks.extend(check_backends(settings, catalog))
        if not offline:
            checks.extend(contact_backends_checks(settings, catalog))
    if database.ok:
        checks.append(_guarded("quota ledger", lambda: check_ledger(settings)))
    else:
        checks.append(Check("quota ledger", False, "not checked: the database cannot be opened"))
    return checks


def for_the_preview(settings: Settings) -> Settings:
    """The settings the preview runs with: its own database, and the demo backend whatever `.env` says."""
    from bot.preview.session import preview_settings

    preview = preview_settings(settings, settings.demo_latency_seconds)
    return preview.model_copy(update={"database_path": settings.preview_database_path, "database_url": None})


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A check that itself fails becomes its FAIL line: the other checks still run and print."""
    try:
        return check()
    except DatabaseUnreachable as error:
        return Check(name, False, str(error))
    except Exception as error:
        return Check(name, False, f"could not be checked: {type(error).__name__}: {one_line(str(error))}")


def check_token(settings: Settings, needed: bool) -> Check:
    if settings.discord_token is None:
        if needed:
            return Check(
                "discord token",
                False,
                "DISCORD_TOKEN is not set. Create an application at https://discord.com/developers/applications, "
                "open Bot → Reset Token, and put DISCORD_TOKEN=... in .env "
                "(only trying the local preview? `footage-bot doctor --no-token-needed`)",
            )
        return Check("discord token", True, "not set (fine for the local preview)")
    token = settings.discord_token.get_secret_value().strip()
    if not _TOKEN_SHAPE.match(token):
        return Check("discord token", False, "DISCORD_TOKEN does not look like a bot token (three dot-separated parts)")
    first = token.split(".", 1)[0]
    try:
        application_id = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        application_id = ""
    if not application_id.isdigit():
        return Check("discord token", False, "DISCORD_TOKEN's first part is not a bot id: was it copied whole?")
    return Check("discord token", True, f"well-formed, for application {application_id}")


def check_database(settings: Settings) -> Check:
    """SQLite: the file's folder is writable and the file opens. PostgreSQL: reachable, and every migration applied."""
    url = configured_url(settings)
    if store_kind(url) == "sqlite":
        return _check_sqlite_file(sqlite_path(url))
    try:
        pending = asyncio.run(pending_migrations(url))
    except DatabaseUnreachable as error:
        return Check("database", False, f"{error}; check DATABASE_URL and that the server runs")
    if pending:
        return Check(
            "database", True, f"{redacted(url)} reachable; {len(pending)} migration(s) apply at start: {pending[0]} ..."
        )
    return Check("database", True, f"{redacted(url)} reachable, every migration applied")


def _check_sqlite_file(path: Path) -> Check:
    problem = _unwritable(path.parent)
    if problem:
        return Check("database", False, f"cannot write in {path.parent} ({problem}); set DATABASE_PATH")
    if not path.exists():
        return Check("database", True, f"{path} is writable (created at the first start)")
    if path.is_file() and not os.access(path, os.W_OK):
        return Check("database", False, f"{path} is read-only; set DATABASE_PATH")
    # Read without applying anything; DatabaseUnreachable names the file and the problem.
    asyncio.run(pending_migrations(sqlite_url(path)))
    return Check("database", True, f"{path} is a readable SQLite database and writable")


def check_media_dir(settings: Settings) -> Check:
    folder = settings.media_dir
    problem = _unwritable(folder)
    if problem:
        return Check("media folder", False, f"cannot write in {folder} ({problem}); set MEDIA_DIR")
    return Check("media folder", True, f"{folder} is writable")


def _unwritable(folder: Path) -> str:
    """Why no file can be created in `folder` (made if missing), or '' when one can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error.strerror or type(error).__name__
    return ""


def check_disk(settings: Settings) -> Check:
    places = {"clips": settings.media_dir}
    if settings.database_url is None:  # a local SQLite file
        places["database"] = settings.database_path.parent
    readings = free_space(places)
    low = low_readings(readings, settings.disk_min_free_bytes)
    threshold = f"DISK_MIN_FREE_BYTES is {settings.disk_min_free_bytes / 1e6:,.0f} MB"
    if low:
        return Check("disk space", False, f"{describe(low)}: jobs are {WAITING_STATUS} ({threshold})")
    return Check("disk space", True, f"{describe(readings)} ({threshold})")


def check_ffmpeg() -> Check:
    from bot.media.fit import FFmpegUnavailable, ffmpeg_version

    try:
        version = ffmpeg_version()
    except FFmpegUnavailable as error:
        return Check("ffmpeg", False, f"{error}; reinstall with `make clean run`")
    return Check("ffmpeg", True, f"version {version} from the imageio-ffmpeg wheel, with libx264 and aac")


def check_backends(settings: Settings, catalog: ModelCatalog) -> list[Check]:
    return [Check(f"backend {name}", ok, detail) for name, ok, detail in check_backend_settings(settings, catalog)]


def contact_backends_checks(settings: Settings, catalog: ModelCatalog) -> list[Check]:
    report = asyncio.run(contact_backends(settings, catalog))
    return [Check(f"backend {name} online", ok, detail) for name, ok, detail in report]


def check_ledger(settings: Settings) -> Check:
    url = configured_url(settings)
    try:
        pending = asyncio.run(pending_migrations(url))
        if pending and store_kind(url) == "sqlite" and not sqlite_path(url).exists():
            return Check("quota ledger", True, "no database yet")
        if pending:
            return Check("quota ledger", True, f"not checked: {len(pending)} migration(s) apply when the bot starts")
        mismatches = asyncio.run(_ledger_mismatches(url))
    except DatabaseUnreachable:
        return Check("quota ledger", False, "not checked: the database cannot be reached")
    if mismatches:
        sample = ", ".join(_mismatch_line(m) for m in mismatches[:3])
        return Check("quota ledger", False, f"{len(mismatches)} job(s) disagree with the ledger: {sample}")
    return Check("quota ledger", True, "reserved + used equals the ledger for every job")


def _mismatch_line(mismatch: LedgerMismatch) -> str:
    found = f"{mismatch.ledger_seconds} s and {format_amount(mismatch.ledger_micros)}"
    expected = f"{mismatch.expected_seconds} s and {format_amount(mismatch.expected_micros)}"
    return f"{mismatch.job_id} ({mismatch.state}: ledger {found}, expected {expected})"


async def _ledger_mismatches(url: str) -> list[LedgerMismatch]:
    store = await open_store(url)
    try:
        return await store.read(ledger.mismatches)
    finally:
        await store.close()
