"""`footage-bot bench queue` runs the real core end to end and ends with its figures as JSON.

A small run: it checks the benchmark works and what it reports, never how fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from tests.postgres_cluster import bench_leftovers


def test_bench_queue_runs_every_job_to_delivery_and_prints_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")

    code = cli.main(
        ["bench", "queue", "--jobs", "300", "--users", "7", "--queued", "40", "--in-flight", "5", "--spending-budget"]
    )

    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith("filled the queue with 40 waiting jobs in ")
    assert out[1].startswith("300 jobs, 7 users, 40 waiting:")
    figures = json.loads(out[-1])
    assert (figures["jobs"], figures["users"], figures["queued"], figures["spending_budget"]) == (300, 7, 40, True)
    for name in ("jobs_per_s", "enqueue_p99_ms", "position_p99_ms", "decision_us", "peak_rss_mib"):
        assert figures[name] > 0, name
    assert 0 < figures["db_batches"] < 300 * 6  # six writes per lifecycle, grouped into fewer commits
    assert (figures["workers"], figures["lost_jobs"], figures["double_submits"], figures["double_posts"]) == (
        0,
        0,
        0,
        0,
    )


def test_bench_queue_sql_alone_replays_the_runs_statements_and_prints_the_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")

    code = cli.main(["bench", "queue", "--jobs", "200", "--users", "7", "--queued", "20", "--sql-alone"])

    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[-3].startswith("SQL alone: the run's ") and "of SQL alone" in out[-2]
    figures = json.loads(out[-1])
    assert figures["lost_jobs"] == 0
    assert figures["statements"] > 200 * 10  # a dozen statements per lifecycle
    assert figures["sql_alone_jobs_per_s"] > 0 and figures["bot_jobs_per_s"] > 0
    assert figures["of_sql_alone"] == pytest.approx(figures["bot_jobs_per_s"] / figures["sql_alone_jobs_per_s"], 0.01)
    assert figures["bot_cpu_us_per_job"] > figures["sql_alone_cpu_us_per_job"] > 0
    assert 0 < figures["of_sql_alone_cpu"] < 1


def test_bench_queue_sql_alone_on_postgresql_says_it_replays_sqlite_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="--sql-alone replays the run's SQLite statements"):
        cli.main(["bench", "queue", "--sql-alone", "--database-url", "postgresql://footage@127.0.0.1:9/postgres"])


def test_bench_queue_on_postgresql_leaves_nothing_and_never_uses_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")
    monkeypatch.setenv("DATABASE_URL", postgres_url)  # the bot's own database: the bench must not touch it

    assert cli.main(["bench", "queue", "--jobs", "60", "--users", "3", "--in-flight", "4"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["store"] == "sqlite"

    assert (
        cli.main(["bench", "queue", "--jobs", "60", "--users", "3", "--in-flight", "4", "--database-url", postgres_url])
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["store"] == "postgresql" and "database (postgresql)" in out[-2]
    assert bench_leftovers(postgres_url) == (0, 0)  # the scratch schema is gone, and nothing was made beside it


def test_bench_queue_with_worker_processes_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")
    arguments = ["bench", "queue", "--jobs", "200", "--users", "20", "--in-flight", "8", "--workers", "2"]

    assert cli.main([*arguments, "--database-url", postgres_url]) == 0

    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert (figures["store"], figures["workers"], figures["jobs"]) == ("postgresql", 2, 200)
    assert (figures["lost_jobs"], figures["double_submits"], figures["double_posts"]) == (0, 0, 0)
    assert figures["jobs_per_s"] > 0
    with pytest.raises(SystemExit, match="--workers needs --database-url postgresql"):
        cli.main(arguments)
