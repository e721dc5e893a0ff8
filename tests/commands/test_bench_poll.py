"""`footage-bot bench poll` runs the fal adapter's polls against the timed loopback server.

A short run: it checks the benchmark works and what it reports, never how fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli


@pytest.mark.parametrize(("options", "requests"), [([], 1), (["--no-stream"], 3)])
def test_bench_poll_reports_the_wait_and_the_requests(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    requests: int,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")

    code = cli.main(["bench", "poll", "--seconds", "1.5", "--jobs", "2", "--jitter", "0.2", *options])

    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[0].startswith("2 jobs of 1.5 s (+-0.2 s) against http://127.0.0.1:")
    figures = json.loads(out[-1])
    assert (figures["jobs"], figures["run_seconds"], figures["status_stream"]) == (2, 1.5, not options)
    assert figures["seen_after_worst_s"] >= 0
    if options:  # the refused stream, then a poll that saw it running and one that saw it done
        assert figures["status_requests_worst"] >= requests
    else:  # the stream, however long the job ran
        assert figures["status_requests_worst"] == requests
