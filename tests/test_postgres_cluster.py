"""The throwaway PostgreSQL cluster the tests run against: it starts, answers, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.postgres_cluster import PostgresCluster, PostgresUnavailable, postgres_required, server_bin_dir


async def test_a_fresh_database_answers_queries(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        await connection.execute("CREATE TABLE probe (id integer PRIMARY KEY, body text NOT NULL)")
        await connection.execute("INSERT INTO probe VALUES (1, 'one'), (2, 'two')")
        cursor = await connection.execute("SELECT count(*), current_setting('fsync'), version() FROM probe")
        count, fsync, version = await cursor.fetchone() or (None, None, None)
    assert count == 2
    assert fsync == "off"
    assert str(version).startswith("PostgreSQL ")


def test_each_test_database_is_its_own(postgres_cluster: PostgresCluster) -> None:
    first, second = postgres_cluster.new_database("mine"), postgres_cluster.new_database("mine")
    try:
        assert first != second
        with psycopg.connect(first) as connection:
            connection.execute("CREATE TABLE only_here (id integer)")
        with psycopg.connect(second) as connection:
            found = connection.execute("SELECT to_regclass('only_here') IS NOT NULL").fetchone()
        assert found == (False,)
    finally:
        postgres_cluster.drop_database(first)
        postgres_cluster.drop_database(second)


def test_a_killed_test_run_leaves_no_server_and_no_folder() -> None:
    server_bin_dir()  # the same loud skip or failure as the fixture when there is no server
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.postgres_cluster import running_cluster\n"
            "import psycopg, sys, time\n"
            "with running_cluster() as cluster:\n"
            "    psycopg.connect(cluster.url).close()\n"
            "    print(cluster.folder, cluster.data_dir / 'postmaster.pid', cluster.port, flush=True)\n"
            "    time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout is not None
    folder, pid_file, port = child.stdout.readline().split()
    server_pid = int(Path(pid_file).read_text().split()[0])
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 60
    while (Path(folder).exists() or _alive(server_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(folder).exists(), "the cluster folder outlived the killed run"
    assert not _alive(server_pid), f"the server on port {port} outlived the killed run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name; only a process still running counts.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


@pytest.mark.parametrize("variable", ["CI", "FOOTAGE_REQUIRE_POSTGRES"])
def test_ci_requires_postgres(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("FOOTAGE_REQUIRE_POSTGRES", raising=False)
    assert not postgres_required()
    monkeypatch.setenv(variable, "1" if variable != "CI" else "true")
    assert postgres_required()


def test_missing_server_binaries_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PG_BINDIR", str(tmp_path))
    with pytest.raises(PostgresUnavailable, match="initdb"):
        server_bin_dir()
