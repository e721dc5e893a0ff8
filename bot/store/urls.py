"""Database URLs: which store one names, and how to show it without its password.

`sqlite:///data/footage.db` is a file path after the third slash, relative or (with a
fourth slash) absolute, the convention SQLAlchemy and others use.
`postgresql://user:password@host:port/database` (or `postgres://`) is handed to
libpq as it is, so every libpq URI parameter works (`?sslmode=require`, a socket
folder as `?host=/run/postgresql`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_HIDDEN = "***"


class UnsupportedDatabase(ValueError):
    """A database URL no store here speaks; the message names the scheme, never the URL."""


def sqlite_url(path: Path) -> str:
    return f"{SQLITE_PREFIX}{path}"


def store_kind(url: str) -> str:
    """ "sqlite" or "postgresql", or UnsupportedDatabase."""
    if url.startswith(SQLITE_PREFIX):
        return "sqlite"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in POSTGRES_SCHEMES:
        return "postgresql"
    raise UnsupportedDatabase(
        f"must start with {SQLITE_PREFIX} or postgresql://; this one's scheme is {scheme or '(none)'!r}"
    )


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix(SQLITE_PREFIX))


def redacted(url: str) -> str:
    """The URL safe to print: any password, in the user part or as a parameter, replaced by ***."""
    if url.startswith(SQLITE_PREFIX):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        if ":" in credentials:
            credentials = f"{credentials.split(':', 1)[0]}:{_HIDDEN}"
        netloc = f"{credentials}@{host}"
    query = urlencode(
        [(key, _HIDDEN if key == "password" else value) for key, value in parse_qsl(parts.query)], safe="/*"
    )
    # Joined by hand: urlunsplit drops the `//` of an empty host (a Unix-socket URL).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
