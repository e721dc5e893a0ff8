"""`footage-bot fit`: the bot's fitting on any clip, saying what it did, the last line JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import cli
from bot.media.fit import upload_budget
from bot.media.hard_clips import HardClip, write_hard_clip
from bot.media.probe import probe_video


@pytest.fixture
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hard_clip(HardClip("noise", 180, 2, audio=True), tmp_path_factory.mktemp("fit-cli") / "in.mp4")


@pytest.fixture(autouse=True)
def fixed_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("FIT_THREADS", "2")
    monkeypatch.setenv("FIT_PARALLEL", "1")


def run_fit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = cli.main(["fit", *argv])
    captured = capsys.readouterr()
    return code, captured.out.strip().splitlines(), captured.err


def test_an_over_limit_clip_is_fitted_and_every_attempt_shown(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = clip.stat().st_size // 4
    code, lines, _ = run_fit(capsys, str(clip), "--limit", str(limit), "-o", str(tmp_path / "out.mp4"))

    assert code == 0
    summary = json.loads(lines[-1])
    assert summary["fitted"] and summary["reencoded"] and summary["attempts"] == 1
    assert summary["size"] == (tmp_path / "out.mp4").stat().st_size <= upload_budget(limit)
    assert summary["video_bps"] > 0 and summary["audio_bps"] > 0
    assert any(line.startswith("attempt 1: 320x180, video ") and "(fits)" in line for line in lines)
    assert probe_video(tmp_path / "out.mp4").duration == pytest.approx(2, abs=0.1)


def test_a_clip_that_fits_is_copied_as_is(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run_fit(capsys, str(clip), "--limit", str(clip.stat().st_size * 2), "-o", str(tmp_path / "o.mp4"))
    assert code == 0
    assert "already fit" in lines[1]
    assert json.loads(lines[-1])["attempts"] == 0
    assert (tmp_path / "o.mp4").read_bytes() == clip.read_bytes()


def test_an_impossible_limit_says_why_it_would_be_a_link(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = run_fit(capsys, str(clip), "--limit", "70000", "-o", str(tmp_path / "o.mp4"))
    assert code == 1
    assert "posts a link instead" in lines[-2] and "kbit/s of video" in lines[-2]
    assert json.loads(lines[-1])["fitted"] is False
    assert not (tmp_path / "o.mp4").exists()


def test_a_file_that_is_not_a_video_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.mp4").write_text("not a video")
    code, lines, err = run_fit(capsys, str(tmp_path / "notes.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert code == 2 and lines == []
    assert err.startswith("footage-bot fit: notes.mp4 is not a readable video") and "Traceback" not in err
