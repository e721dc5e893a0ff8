"""Named statements, read from one `queries.sql` per dialect.

Each statement is written once, under a header naming it, with one line on what it
is for (the shape procrastinate's `sql/queries.sql` uses):

    -- name: get_job
    -- One job by id.
    SELECT {job_columns} FROM jobs WHERE id = ?

`{constant}` slots named in `constants` are filled once when the file is read; any
other `{slot}` is left for the caller to fill with `str.format` (a list of
placeholders or assignments whose length varies per call).
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z][a-z0-9_]*)\s*$")


class QueryFileError(Exception):
    """A queries file that does not follow the format above: a bug in the package, reported by name."""


class _KeepUnknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def load_queries(package: str, *, constants: dict[str, str]) -> dict[str, str]:
    """The statements of `package`'s `queries.sql`, by name."""
    text = resources.files(package).joinpath("queries.sql").read_text(encoding="utf-8")
    return parse_queries(text, constants=constants, source=f"{package}/queries.sql")


def parse_queries(text: str, *, constants: dict[str, str], source: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    name: str | None = None
    purpose: str | None = None
    body: list[str] = []

    def finish() -> None:
        if name is None:
            return
        statement = "\n".join(body).strip()
        if not purpose or not statement:
            raise QueryFileError(f"{source}: query {name} needs a line on what it is for, then its statement")
        queries[name] = statement.format_map(_KeepUnknown(constants))

    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            finish()
            name, purpose, body = header.group(1), None, []
            if name in queries:
                raise QueryFileError(f"{source}: query {name} is written twice")
        elif name is None:
            continue  # the file's own introduction
        elif purpose is None and line.startswith("-- "):
            purpose = line[3:].strip()
        else:
            body.append(line)
    finish()
    return queries


class Statements:
    """One dialect's named statements, their per-call slots filled once per shape.

    The same string for the same shape also spares the driver's statement cache
    hashing a new one at every call. `mark` is the dialect's parameter placeholder.
    """

    def __init__(self, queries: dict[str, str], mark: str) -> None:
        self._queries = queries
        self._mark = mark
        self._shaped: dict[tuple[str, object], str] = {}

    def __getitem__(self, name: str) -> str:
        return self._queries[name]

    def with_marks(self, name: str, count: int) -> str:
        """`{marks}` as `count` placeholders: a list whose length varies per call."""
        key = (name, count)
        statement = self._shaped.get(key)
        if statement is None:
            statement = self._shaped[key] = self._queries[name].format(marks=", ".join([self._mark] * count))
        return statement

    def with_assignments(self, name: str, columns: tuple[str, ...]) -> str:
        """`{assignments}` as `column = placeholder` for each of `columns`, comma-separated."""
        key = (name, columns)
        statement = self._shaped.get(key)
        if statement is None:
            assignments = ", ".join(f"{column} = {self._mark}" for column in columns)
            statement = self._shaped[key] = self._queries[name].format(assignments=assignments)
        return statement

    def with_rows(self, name: str, rows: int, width: int) -> str:
        """`{rows}` as `rows` parenthesized groups of `width` placeholders (a multi-row VALUES)."""
        key = (name, (rows, width))
        statement = self._shaped.get(key)
        if statement is None:
            row = "(" + ", ".join([self._mark] * width) + ")"
            statement = self._shaped[key] = self._queries[name].format(rows=", ".join([row] * rows))
        return statement
