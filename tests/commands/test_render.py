from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot import cli
from bot.backends.base import BackendErrorKind, BackendJob, GenerationRequest, PollResult
from bot.backends.demo import DemoBackend
from bot.commands import render
from bot.media.probe import probe_video
from bot.models import ModelSpec

CATALOG = """
[models.plain]
backend = "demo"
durations = [2]
aspects = ["1:1"]
image_to_video = false
"""


@pytest.fixture(autouse=True)
def demo_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Run where no .env is, with only the demo backend configured.
    monkeypatch.chdir(tmp_path)
    for name in ("FOOTAGE_CONFIG", "DEMO_LATENCY_SECONDS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOOTAGE_BACKEND", "demo")
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    # Other subcommands are other modules' business; `cli.main` itself is what runs here.
    monkeypatch.setattr(cli, "SUBCOMMANDS", {"render": cli.SUBCOMMANDS["render"]})
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_render_writes_a_playable_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "clip.mp4"
    argv = ["render", "a paper boat on a river", "--seconds", "2", "--aspect", "1:1", "--seed", "5", "-o", str(output)]

    code = cli.main(argv)

    captured = capsys.readouterr()
    assert code == 0, captured.err
    info = probe_video(output)
    assert (info.codec, info.width, info.height) == ("h264", 480, 480)
    assert info.duration == pytest.approx(2, abs=1 / 24)
    assert captured.out.startswith(f"{output}  2.00 s  480x480")
    assert "succeeded" in captured.err
    assert "seed 5" in captured.err


def test_a_length_the_model_does_not_offer_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["render", "a cat", "--seconds", "7", "-o", str(tmp_path / "clip.mp4")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "footage-bot render: --seconds 7 is not offered by model 'demo' (choose from 2, 4, 6, 8, 10)"
    ]
    assert not (tmp_path / "clip.mp4").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--aspect", "2:1"], "--aspect 2:1 is not offered by model 'demo'"),
        (["--model", "nope"], "no model 'nope'; choose from demo"),
        (["--image", "missing.png"], "--image missing.png: No such file or directory"),
        (["--image", "notes.txt"], "--image notes.txt: the input image must be a PNG, JPEG or WebP file"),
        (["   "], "the prompt is empty"),
    ],
)
def test_bad_options_exit_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    prompt = [] if options == ["   "] else ["a cat"]
    code = cli.main(["render", *prompt, *options, "-o", str(tmp_path / "clip.mp4")])

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_an_image_for_a_text_only_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "footage.toml").write_text(CATALOG)
    (tmp_path / "still.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setenv("FOOTAGE_CONFIG", str(tmp_path / "footage.toml"))

    code = cli.main(["render", "a cat", "--image", "still.png", "-o", "clip.mp4"])

    assert code == 2
    assert "--image needs an image-to-video model; 'plain' is text-to-video only" in capsys.readouterr().err


def test_render_with_sound_on_writes_a_clip_with_sound_and_a_silent_model_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["render", "surf", "--seconds", "2", "--audio", "on", "-o", "loud.mp4"]) == 0
    assert probe_video(tmp_path / "loud.mp4").has_audio
    (tmp_path / "footage.toml").write_text(CATALOG + "audio_optional = false\n")
    monkeypatch.setenv("FOOTAGE_CONFIG", str(tmp_path / "footage.toml"))
    capsys.readouterr()

    assert cli.main(["render", "surf", "--audio", "on", "-o", "quiet.mp4"]) == 2
    assert "--audio on: plain makes clips without sound" in capsys.readouterr().err


def test_a_provider_failure_names_its_kind_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A sound PNG header over cut-off pixel data: it passes the command's check and fails at the renderer.
    (tmp_path / "broken.png").write_bytes(_png(64, 64)[:200])

    code = cli.main(["render", "a cat", "--seconds", "2", "--image", "broken.png", "-o", "clip.mp4"])

    err = capsys.readouterr().err
    assert code == 1
    failure = err.strip().splitlines()[-1]
    assert failure.startswith("footage-bot render: failed: BackendError invalid_request:")
    assert "provider said: the input image cannot be read" in failure
    assert "Traceback" not in err
    assert not (tmp_path / "clip.mp4").exists()


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            PermissionError(13, "Permission denied", "clip.mp4"),
            "PermissionError: [Errno 13] Permission denied: 'clip.mp4'",
        ),
        (RuntimeError("token=abc123"), "unexpected RuntimeError; LOG_LEVEL=DEBUG shows the details"),
    ],
)
def test_other_failures_are_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, failure: Exception, expected: str
) -> None:
    async def failing_fetch(*args: object) -> None:
        raise failure

    monkeypatch.setattr(DemoBackend, "fetch", failing_fetch)

    code = cli.main(["render", "a cat", "--seconds", "2", "-o", "clip.mp4"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1] == f"footage-bot render: {expected}"
    assert "Traceback" not in err
    assert "abc123" not in err


async def test_interrupting_a_render_cancels_the_backend_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = DemoBackend(tmp_path / "renders", latency=60)
    model = ModelSpec(name="demo", backend="demo", durations=(1,), aspects=("1:1",))
    request = GenerationRequest(job_id="ctrl-c", model=model, prompt="a cat", seconds=1, aspect="1:1", seed=1)
    submitted = asyncio.Event()
    original_submit = backend.submit

    async def submit_and_tell(req: GenerationRequest) -> BackendJob:
        job = await original_submit(req)
        submitted.set()
        return job

    monkeypatch.setattr(backend, "submit", submit_and_tell)
    task = asyncio.create_task(render._generate(request, backend, tmp_path / "clip.mp4", 120))
    await submitted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (await backend.poll(BackendJob(id="ctrl-c"))).state == "canceled"
    await backend.aclose()


async def test_a_render_that_times_out_cancels_the_backend_job(tmp_path: Path) -> None:
    backend = DemoBackend(tmp_path / "renders", latency=60)
    model = ModelSpec(name="demo", backend="demo", durations=(1,), aspects=("1:1",))
    request = GenerationRequest(job_id="slow", model=model, prompt="a cat", seconds=1, aspect="1:1", seed=1)

    outcome = await render._generate(request, backend, tmp_path / "clip.mp4", 0.5)

    assert outcome.error is not None
    assert outcome.error.kind is BackendErrorKind.TIMEOUT
    assert (await backend.poll(BackendJob(id="slow"))).state == "canceled"
    await backend.aclose()


def test_the_progress_bar_prints_one_line_per_change_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = render.ProgressBar(stream)
    for update in (
        PollResult(state="queued", queue_position=2),
        PollResult(state="queued", queue_position=2),
        PollResult(state="queued", queue_position=1),
        PollResult(state="running", progress=0.31),
        PollResult(state="running", progress=0.35),
        PollResult(state="running", progress=0.52),
        PollResult(state="succeeded", progress=1.0),
    ):
        bar.update(update)
    bar.finish()

    lines = stream.getvalue().splitlines()
    assert [line.split("]", 1)[1].rsplit("  ", 1)[0].strip() for line in lines] == [
        "-  queued (position 2)",
        "-  queued (position 1)",
        "31%  running",
        "52%  running",
        "100%  succeeded",
    ]
    assert lines[2].startswith("[#######.................]")


def test_sigterm_cancels_the_render_like_ctrl_c_and_leaves_no_file(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FOOTAGE_BACKEND": "demo",
        "DEMO_LATENCY_SECONDS": "120",
        "MEDIA_DIR": str(tmp_path / "media"),
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # this checkout's bot, wherever it is installed
    }
    env.pop("FOOTAGE_CONFIG", None)
    command = [sys.executable, "-c", "from bot.cli import entry; entry()", "render", "a cat", "-o", "clip.mp4"]
    child = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    try:
        for line in child.stderr:  # the job is at the provider once the progress bar shows it
            if "running" in line or "queued" in line:
                break
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 143, err
    assert "terminated; the job was canceled" in err
    assert "Traceback" not in err
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".*")) == []


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_declaring_too_many_pixels_is_refused_before_any_decode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 13,000 x 13,000 of one colour compresses to a small file; decoded it would be 500 MB.
    Image.new("L", (13_000, 13_000)).save(tmp_path / "bomb.png", optimize=True)
    assert (tmp_path / "bomb.png").stat().st_size < 1024 * 1024

    code = cli.main(["render", "a cat", "--seconds", "2", "--image", "bomb.png", "-o", "clip.mp4"])

    assert code == 2
    assert "too large" in capsys.readouterr().err
