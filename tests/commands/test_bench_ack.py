"""`footage-bot bench ack` times the real bot inside SimCord, all-in-one on SQLite or as a gateway on PostgreSQL.

Small runs: they check the benchmark works and what it reports, never how fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from tests.postgres_cluster import bench_leftovers


def _figures(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("queued 20 jobs in ")
    assert out[-2].startswith("6 answers: p50 ")
    figures: dict[str, object] = json.loads(out[-1])
    return figures


def _sane(figures: dict[str, object]) -> None:
    assert (figures["commands"], figures["queued_jobs"]) == (6, 20)
    p50, p99 = figures["ack_p50_ms"], figures["ack_p99_ms"]
    assert isinstance(p50, float) and isinstance(p99, float)
    assert 0 < p50 <= p99


def test_bench_ack_times_a_gateway_on_postgresql_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATABASE_URL", postgres_url)  # the bot's own database: the bench must not touch it

    assert cli.main(["bench", "ack", "--commands", "6", "--queued", "20"]) == 0
    figures = _figures(capsys)
    _sane(figures)
    assert (figures["store"], figures["process"]) == ("sqlite", "run")

    assert cli.main(["bench", "ack", "--commands", "6", "--queued", "20", "--database-url", postgres_url]) == 0
    figures = _figures(capsys)
    _sane(figures)
    assert (figures["store"], figures["process"]) == ("postgresql", "gateway")
    assert bench_leftovers(postgres_url) == (0, 0)  # the scratch schema is gone, and nothing was made beside it


def test_bench_ack_times_the_all_in_one_bot_on_postgresql_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], postgres_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments = ["bench", "ack", "--commands", "6", "--queued", "20", "--process", "run"]

    assert cli.main([*arguments, "--database-url", postgres_url]) == 0

    figures = _figures(capsys)
    _sane(figures)
    assert (figures["store"], figures["process"]) == ("postgresql", "run")


def test_bench_ack_says_a_gateway_needs_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="--process gateway needs --database-url postgresql"):
        cli.main(["bench", "ack", "--process", "gateway"])
