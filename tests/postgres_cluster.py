"""A throwaway PostgreSQL cluster for the tests: its own folder, its own port, removed afterwards.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
unprivileged `postgres` user (the folder is handed to it and every server command runs through
`runuser`). Several clones run the suite at once on one machine, so nothing is shared: a fresh
folder under the system temp directory (pytest's own temp folder is private to root, where
`postgres` cannot enter), a free loopback port, and a Unix socket inside that folder.

A watchdog process holds the read end of a pipe whose write end only this process holds: when
the test run ends in any way (even SIGKILL), the pipe closes and the watchdog stops the server
and removes the folder, so a killed run never leaves a server behind.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SERVER_USER = "postgres"
SUPERUSER = "footage"
# Settings for a test server: durability is not wanted (the folder is deleted afterwards),
# memory stays small because several suites share two cores, and enough connections for a
# few worker processes with their pools.
TEST_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
}
START_ATTEMPTS = 5
_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.read()  # returns at EOF: the test process has ended, however it ended
pg_ctl, data, folder, *runuser = sys.argv[1:]
subprocess.run([*runuser, pg_ctl, "stop", "-D", data, "-m", "immediate"], capture_output=True, check=False)
shutil.rmtree(folder, ignore_errors=True)
"""


class PostgresUnavailable(Exception):
    """No PostgreSQL server binaries here, or no user to run them as."""


def server_bin_dir() -> Path:
    """The newest installed PostgreSQL's server binaries (Debian's layout), or PG_BINDIR."""
    if configured := os.environ.get("PG_BINDIR"):
        candidates = [Path(configured)]
    else:
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
            reverse=True,
        )
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (looked for /usr/lib/postgresql/*/bin/initdb; "
        "install them with `apt-get install postgresql` or set PG_BINDIR)"
    )


def postgres_required() -> bool:
    """CI must never skip the PostgreSQL tests silently."""
    return bool(os.environ.get("CI")) or os.environ.get("FOOTAGE_REQUIRE_POSTGRES") == "1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    """A running server; `url` reaches its `postgres` database as a superuser over loopback."""

    folder: Path
    bin_dir: Path
    port: int
    run_as: list[str]
    _databases: int = field(default=0, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Runs SQL with the cluster's own psql (no Python driver needed); returns its output."""
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def new_database(self, prefix: str = "test") -> str:
        """Creates an empty database and returns its URL: each test gets its own."""
        self._databases += 1
        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{self._databases}"
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError as missing:
        raise PostgresUnavailable(
            f"the tests run as root and PostgreSQL refuses root, but there is no `{SERVER_USER}` user to run it as"
        ) from missing
    return ["runuser", "-u", SERVER_USER, "--"]


def _hand_over(folder: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(folder, entry.pw_uid, entry.pw_gid)


def _start(cluster: PostgresCluster) -> None:
    options = " ".join(f"-c {name}={value}" for name, value in TEST_SERVER_SETTINGS.items())
    log = cluster.folder / "server.log"
    command = [
        *cluster.run_as,
        str(cluster.bin_dir / "pg_ctl"),
        "start",
        "-w",
        "-t",
        "60",
        "-D",
        str(cluster.data_dir),
        "-l",
        str(log),
        "-o",
        f"-p {cluster.port} -k {cluster.socket_dir} {options}",
    ]
    # Its own session: a Ctrl-C at the terminal reaches pytest (which tears down) and not the server.
    result = subprocess.run(command, capture_output=True, text=True, check=False, start_new_session=True)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed on port {cluster.port}: {result.stderr.strip()}\n{tail}")


def _stop(cluster: PostgresCluster) -> None:
    subprocess.run(
        [*cluster.run_as, str(cluster.bin_dir / "pg_ctl"), "stop", "-D", str(cluster.data_dir), "-m", "immediate"],
        capture_output=True,
        check=False,
    )


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Creates, starts, yields and finally stops and deletes a test cluster."""
    bin_dir = server_bin_dir()
    run_as = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="footage-pg-"))
    _hand_over(folder)
    cluster = PostgresCluster(folder=folder, bin_dir=bin_dir, port=0, run_as=run_as)
    read_end, write_end = os.pipe()
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(bin_dir / "pg_ctl"), str(cluster.data_dir), str(folder), *run_as],
        stdin=read_end,
        start_new_session=True,
    )
    os.close(read_end)
    try:
        subprocess.run(
            [*run_as, "mkdir", str(cluster.socket_dir)],
            check=True,
            capture_output=True,
        )
        initdb = subprocess.run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr.strip()}")
        # Another suite may take the probed port before the server binds it: try a few.
        for attempt in range(START_ATTEMPTS):
            cluster.port = _free_port()
            try:
                _start(cluster)
                break
            except RuntimeError:
                if attempt == START_ATTEMPTS - 1:
                    raise
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(folder, ignore_errors=True)
        os.close(write_end)
        watchdog.wait(timeout=30)


def bench_leftovers(url: str) -> tuple[int, int]:
    """(scratch schemas, tables in `public`) on the database: a bench run on it must leave (0, 0)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'footage_scratch_%%' "
            "UNION ALL SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return int(rows[0][0]), int(rows[1][0])
