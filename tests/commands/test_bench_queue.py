"""`footage-bot bench queue` runs the real core end to end and ends with its figures as JSON.

A small run: it checks the benchmark works and what it reports, never how fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli


def test_bench_queue_runs_every_job_to_delivery_and_prints_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")

    code = cli.main(["bench", "queue", "--jobs", "300", "--users", "7", "--queued", "40", "--in-flight", "5"])

    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith("filled the queue with 40 waiting jobs in ")
    assert out[1].startswith("300 jobs, 7 users, 40 waiting:")
    figures = json.loads(out[-1])
    assert (figures["jobs"], figures["users"], figures["queued"]) == (300, 7, 40)
    for name in ("jobs_per_s", "enqueue_p99_ms", "position_p99_ms", "decision_us", "peak_rss_mib"):
        assert figures[name] > 0, name
    assert 0 < figures["db_batches"] < 300 * 6  # six writes per lifecycle, grouped into fewer commits
