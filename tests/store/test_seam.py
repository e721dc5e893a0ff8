"""The storage seam holds: database drivers and SQL stay in their implementation packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.store.queries import QueryFileError, parse_queries

BOT = Path(__file__).resolve().parents[2] / "bot"
IMPLEMENTATIONS = (BOT / "store" / "sqlite", BOT / "store" / "postgres")
DRIVERS = ("sqlite3", "aiosqlite", "psycopg", "psycopg_pool")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules_outside_implementations() -> list[Path]:
    return [path for path in BOT.rglob("*.py") if not any(path.is_relative_to(folder) for folder in IMPLEMENTATIONS)]


def test_no_database_driver_is_imported_outside_its_store_package() -> None:
    offenders = {
        str(path.relative_to(BOT)): sorted(name for name in imported_modules(path) if name.split(".")[0] in DRIVERS)
        for path in modules_outside_implementations()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_sql_is_written_outside_the_store_packages() -> None:
    keywords = ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "CREATE TABLE")
    offenders = []
    for path in modules_outside_implementations():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            if is_text and any(keyword in node.value for keyword in keywords):
                offenders.append(f"{path.relative_to(BOT)}:{node.lineno}")
    assert offenders == []


def test_the_store_never_imports_the_services_above_it() -> None:
    offenders = {
        str(path.relative_to(BOT)): sorted(
            name for name in imported_modules(path) if name.startswith(("bot.jobs", "bot.quotas"))
        )
        for path in (BOT / "store").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_queries_are_read_by_name_with_constants_filled_and_slots_kept() -> None:
    text = """-- introduction
-- name: one_job
-- One job by id.
SELECT {columns} FROM jobs
WHERE id IN ({marks})

-- name: meta
-- A value.
SELECT value FROM meta
"""
    queries = parse_queries(text, constants={"columns": "id, state"}, source="test")
    assert queries == {"one_job": "SELECT id, state FROM jobs\nWHERE id IN ({marks})", "meta": "SELECT value FROM meta"}


@pytest.mark.parametrize(
    "text",
    [
        "-- name: bare\nSELECT 1\n",  # no line on what it is for
        "-- name: empty\n-- Nothing.\n",  # no statement
        "-- name: twice\n-- One.\nSELECT 1\n-- name: twice\n-- Two.\nSELECT 2\n",
    ],
)
def test_a_malformed_queries_file_is_refused_by_name(text: str) -> None:
    with pytest.raises(QueryFileError, match=r"bare|empty|twice"):
        parse_queries(text, constants={}, source="test")
