"""`footage-bot render "PROMPT" -o clip.mp4`: one generation through the configured backend, no Discord.

Checks the options against the model first (exit 2, one line), then submits, shows
a progress bar on stderr and writes the clip. A provider failure is one line naming
its kind and the provider's message (exit 1); Ctrl-C (exit 130) and SIGTERM (exit 143)
cancel the job. `--timeout` is a wall-clock limit on the whole render: submit
(waiting out a provider's 429), polling and the download. The clip is written under
a temporary name beside `-o` and renamed into place only once it is complete.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from bot.backends.base import (
    Backend,
    BackendError,
    BackendErrorKind,
    BackendJob,
    FetchedClip,
    GenerationRequest,
    InputImage,
    PollResult,
    await_directly,
)
from bot.backends.registry import build_backends, load_catalog
from bot.jobs.polling import poll_until_done
from bot.jobs.submitting import submit_when_allowed
from bot.media.input_image import ImageError, check_image, read_capped
from bot.models import ModelCatalog, ModelSpec
from bot.safe_text import one_line
from bot.settings import Settings

log = logging.getLogger(__name__)

PROG = "footage-bot render"
# A local file, not a Discord upload: this only guards against a runaway download.
MAX_DOWNLOAD_BYTES = 2 * 1024**3
CANCEL_SECONDS = 15.0
BAR_WIDTH = 24
REDRAW_SECONDS = 0.5


class UsageError(Exception):
    """A bad option; its message is the one line shown."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what the clip should show")
    parser.add_argument("--model", help="a model name from the catalog (default: the first one)")
    parser.add_argument("--seconds", type=int, help="clip length, one of the model's durations")
    parser.add_argument("--aspect", help="aspect ratio such as 16:9, one of the model's aspects")
    parser.add_argument("--seed", type=int, help="seed for a repeatable result (default: random)")
    parser.add_argument("--negative", metavar="TEXT", help="what the clip should avoid")
    parser.add_argument("--image", type=Path, metavar="PATH", help="a PNG, JPEG or WEBP to animate (image-to-video)")
    parser.add_argument(
        "--audio", choices=("on", "off"), help="sound on or off, on models that can switch it (default: the model's)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PATH", help="where to write the MP4")
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS", help="give up after this long")


def main(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load_catalog(settings)
    try:
        request = build_request(args, settings, catalog)
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    backends = build_backends(settings, catalog, await_directly)
    try:
        return asyncio.run(_run(request, backends, args.output, args.timeout))
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; the job was canceled", file=sys.stderr)
        return 130
    except asyncio.CancelledError:  # only SIGTERM cancels the run (see _stop_on_sigterm)
        print(f"\n{PROG}: terminated; the job was canceled", file=sys.stderr)
        return 128 + signal.SIGTERM
    except OSError as error:  # e.g. the output cannot be written; the text names the file, nothing secret
        print(f"{PROG}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # Only the class: an unexpected error's text could carry a request's details.
        log.debug("render failed", exc_info=True)
        print(f"{PROG}: unexpected {type(error).__name__}; LOG_LEVEL=DEBUG shows the details", file=sys.stderr)
        return 1


def build_request(args: argparse.Namespace, settings: Settings, catalog: ModelCatalog) -> GenerationRequest:
    """The request the options describe, or UsageError naming the first bad option."""
    model = catalog.default if args.model is None else catalog.get(args.model)
    if model is None:
        raise UsageError(f"no model {args.model!r}; choose from {', '.join(catalog.names())}")
    prompt = " ".join(args.prompt.split())
    if not prompt:
        raise UsageError("the prompt is empty")
    if len(prompt) > settings.prompt_max_chars:
        raise UsageError(f"the prompt is {len(prompt)} characters; the limit is {settings.prompt_max_chars}")
    seconds = model.seconds_default if args.seconds is None else args.seconds
    if seconds not in model.durations:
        allowed = ", ".join(str(each) for each in model.durations)
        raise UsageError(f"--seconds {seconds} is not offered by model {model.name!r} (choose from {allowed})")
    aspect = model.aspect_default if args.aspect is None else args.aspect
    if aspect not in model.aspects:
        raise UsageError(
            f"--aspect {aspect} is not offered by model {model.name!r} (choose from {', '.join(model.aspects)})"
        )
    chosen = None if args.audio is None else args.audio == "on"
    if (problem := model.sound_refusal(chosen)) is not None:
        raise UsageError(f"--audio {args.audio}: {problem}")
    output: Path = args.output
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: the folder {output.parent} does not exist")
    if output.is_dir():
        raise UsageError(f"-o {output} is a folder; give a file name such as clip.mp4")
    return GenerationRequest(
        job_id=f"cli-{secrets.token_hex(6)}",
        model=model,
        prompt=prompt,
        seconds=seconds,
        aspect=aspect,
        seed=secrets.randbelow(2**31) if args.seed is None else args.seed,
        negative_prompt=(args.negative or "").strip() or None,
        image=None if args.image is None else _read_image(args.image, model, settings.image_max_bytes),
        audio=model.sound_for(chosen),
    )


def _read_image(path: Path, model: ModelSpec, max_bytes: int) -> InputImage:
    if not model.image_to_video:
        raise UsageError(f"--image needs an image-to-video model; {model.name!r} is text-to-video only")
    try:
        data = read_capped(path, max_bytes)
        content_type = check_image(data)
    except OSError as error:
        raise UsageError(f"--image {path}: {error.strerror or error}") from None
    except ImageError as error:
        raise UsageError(f"--image {path}: {error}") from None
    return InputImage(data=data, content_type=content_type, filename=path.name)


def _check_capabilities(request: GenerationRequest, backend: Backend) -> None:
    can = backend.capabilities
    name = request.model.name
    if request.image is not None and not request.model.image_to_video:
        raise UsageError(f"model {name!r} ({backend.name}) cannot animate an image")
    if request.image is None and not can.text_to_video:
        raise UsageError(f"model {name!r} ({backend.name}) needs --image")
    if request.negative_prompt is not None and not can.negative_prompt:
        raise UsageError(f"model {name!r} ({backend.name}) does not take --negative")


@dataclass(frozen=True, slots=True)
class _Outcome:
    state: str
    clip: FetchedClip | None = None
    error: BackendError | None = None


async def _run(request: GenerationRequest, backends: dict[str, Backend], output: Path, timeout: float) -> int:
    backend = backends[request.model.backend]
    _stop_on_sigterm()
    try:
        _check_capabilities(request, backend)
        shape = f"{request.seconds} s, {request.aspect}, seed {request.seed}"
        print(f"{PROG}: model {request.model.name}, {shape} -> {output}", file=sys.stderr)
        outcome = await _generate(request, backend, output, timeout)
    except UsageError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    finally:
        for each in backends.values():
            await each.aclose()
    return _report(outcome)


def _stop_on_sigterm() -> None:
    """SIGTERM cancels the run as Ctrl-C does, so the provider job is canceled and no partial file stays."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def _generate(request: GenerationRequest, backend: Backend, output: Path, timeout: float) -> _Outcome:
    bar = ProgressBar(sys.stderr)
    ticker = asyncio.create_task(bar.keep_drawing())
    job: BackendJob | None = None
    partial = output.with_name(f".{output.stem}.part{output.suffix}")
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            job = await submit_when_allowed(backend, request, on_wait=bar.rate_limited, sleep=asyncio.sleep)
            result = await poll_until_done(backend, job, on_update=bar.update, timeout=timeout)
            if result.state != "succeeded":
                return _Outcome(result.state, error=result.error)
            clip = await backend.fetch(job, result, partial, MAX_DOWNLOAD_BYTES)
        partial.replace(output)
        return _Outcome("succeeded", clip=replace(clip, path=output))
    except TimeoutError:
        if not deadline.expired():
            raise
        if job is not None:
            await _cancel_quietly(backend, job)
        return _Outcome("failed", error=BackendError(BackendErrorKind.TIMEOUT, f"no clip after {timeout:g} s"))
    except BackendError as error:
        if job is not None and error.kind is BackendErrorKind.TIMEOUT:
            await _cancel_quietly(backend, job)  # do not leave it running (and billing) at the provider
        return _Outcome("failed", error=error)
    except asyncio.CancelledError:
        # Ctrl-C: asyncio.run cancels this task; stop the provider's work before leaving.
        if job is not None:
            await _cancel_quietly(backend, job)
        raise
    finally:
        partial.unlink(missing_ok=True)
        ticker.cancel()
        bar.finish()


async def _cancel_quietly(backend: Backend, job: BackendJob) -> None:
    try:
        async with asyncio.timeout(CANCEL_SECONDS):
            await backend.cancel(job)
    except (BackendError, TimeoutError, OSError) as error:
        log.warning("could not cancel job %s at %s: %s", job.id, backend.name, error)


def _report(outcome: _Outcome) -> int:
    if outcome.clip is not None:
        info = outcome.clip.info
        print(f"{outcome.clip.path}  {info.duration:.2f} s  {info.width}x{info.height}  {_size(info.size_bytes)}")
        return 0
    if outcome.error is None:
        print(f"{PROG}: the job ended {outcome.state} at the provider", file=sys.stderr)
        return 1
    error = outcome.error
    said = f"; provider said: {one_line(error.provider_message)}" if error.provider_message else ""
    print(f"{PROG}: failed: BackendError {error.kind.value}: {error.plain}{said}", file=sys.stderr)
    return 1


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size < 1024**2 else f"{size / 1024**2:.1f} MiB"


class ProgressBar:
    """`[#####.......]  42%  running  0:12` on stderr: redrawn in place on a terminal,
    one line per change of state otherwise (logs, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._started = time.monotonic()
        self._last: PollResult | None = None
        self._printed: tuple[str, int | None, int] | None = None
        self._width = 0

    def update(self, result: PollResult) -> None:
        self._last = result
        self.draw()

    def rate_limited(self, wait: float) -> None:
        self.finish()
        self._stream.write(f"{PROG}: the provider asked to slow down; sending again in {wait:.0f} s\n")
        self._stream.flush()
        self._width = 0

    async def keep_drawing(self) -> None:
        """Keep the elapsed time moving between polls, which may be seconds apart."""
        while self._live:
            await asyncio.sleep(REDRAW_SECONDS)
            self.draw()

    def line(self) -> str:
        elapsed = int(time.monotonic() - self._started)
        clock = f"{elapsed // 60}:{elapsed % 60:02d}"
        result = self._last
        if result is None:
            return f"[{'.' * BAR_WIDTH}]       submitting  {clock}"
        share = 1.0 if result.state == "succeeded" else result.progress
        filled = round(BAR_WIDTH * share) if share is not None else 0
        percent = f"{share:4.0%}" if share is not None else "   -"
        state: str = result.state
        if result.queue_position is not None:
            state += f" (position {result.queue_position})"
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent}  {state}  {clock}"

    def draw(self) -> None:
        text = self.line()
        if self._live:
            self._width = max(self._width, len(text))
            self._stream.write("\r" + text.ljust(self._width))
            self._stream.flush()
            return
        # Not a terminal: print only when the state, queue position or tenth of progress changes.
        result = self._last
        if result is None:
            return
        tenth = int(result.progress * 10) if result.progress is not None else -1
        key = (result.state, result.queue_position, tenth)
        if key != self._printed:
            self._printed = key
            self._stream.write(text + "\n")
            self._stream.flush()

    def finish(self) -> None:
        if self._live and self._width:
            self._stream.write("\n")
            self._stream.flush()
