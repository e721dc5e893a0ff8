"""The built-in demo renderer: a real, seeded H.264 (or VP9) clip with the prompt drawn on it.

`render_demo` is blocking and CPU-bound; it runs in a worker process (it is a
top-level function taking and returning picklable values, so it is spawn-safe).
Pillow draws each frame, PyAV (FFmpeg from its wheel) encodes it with libx264 or libvpx-vp9.
"""

from __future__ import annotations

import colorsys
import io
import math
import os
import random
import re
import signal
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol

import av
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

FPS = 24
SHORT_SIDE = 480
BADGE = "DEMO FOOTAGE"
# How far the Ken Burns move zooms into an input image over the clip.
ZOOM = 1.15
MAX_SECONDS = 60
SAMPLE_RATE = 48_000
AUDIO_FRAME_SAMPLES = 1024  # one AAC frame

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
# MP4 (H.264, AAC) for Discord; WebM (VP9, Opus) for the browser preview, which plays it as it is.
Container = Literal["mp4", "webm"]
RGB = tuple[int, int, int]


class BadInputImage(ValueError):
    """The image-to-video input is not an image Pillow can read."""


@dataclass(frozen=True, slots=True)
class RenderedClip:
    path: Path
    width: int
    height: int
    frames: int
    fps: int


def frame_size(aspect: str) -> tuple[int, int]:
    """`16:9` -> (854, 480): short side 480, both sides even (yuv420p needs it)."""
    match = re.fullmatch(r"(\d{1,2}):(\d{1,2})", aspect)
    if match is None or 0 in (int(match[1]), int(match[2])):
        raise ValueError(f"aspect {aspect!r} must look like 16:9")
    across, down = int(match[1]), int(match[2])
    if max(across, down) / min(across, down) > 4:
        raise ValueError(f"aspect {aspect!r} is wider than 4:1")
    long_side = 2 * round(SHORT_SIDE * max(across, down) / min(across, down) / 2)
    return (long_side, SHORT_SIDE) if across >= down else (SHORT_SIDE, long_side)


def ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it cancels and shuts the pool down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def render_demo(
    dest: Path,
    *,
    prompt: str,
    seconds: int,
    aspect: str,
    seed: int,
    image: bytes | None = None,
    audio: bool = False,
    container: Container = "mp4",
) -> RenderedClip:
    """Render `seconds` of demo footage to `dest` (written whole or not at all).

    With `audio`, the clip gets an AAC track: a soft seeded chord that swells and fades.
    """
    if not 1 <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be between 1 and {MAX_SECONDS}")
    width, height = frame_size(aspect)
    rng = random.Random(seed)
    scene: _Scene = _KenBurns(image, width, height, rng) if image is not None else _Shapes(width, height, rng)
    overlay = _Overlay(width, height, prompt, f"seed {seed} · {seconds} s · {aspect}")
    frames = seconds * FPS
    partial = dest.with_name(dest.name + ".part")
    try:
        tone = _tone(rng, seconds) if audio else None
        _encode(partial, _CODECS[container], width, height, frames, scene, overlay, tone)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return RenderedClip(path=dest, width=width, height=height, frames=frames, fps=FPS)


@dataclass(frozen=True, slots=True)
class _Codecs:
    format: str
    video: str
    video_options: dict[str, object]
    audio: str
    container_options: dict[str, str]


_CODECS: dict[Container, _Codecs] = {
    # superfast: about twice as quick as veryfast here; the file is bigger but still small.
    # faststart puts the index first so Discord can start playing before the download ends.
    "mp4": _Codecs("mp4", "libx264", {"preset": "superfast", "crf": "23"}, "aac", {"movflags": "+faststart"}),
    # VP9 and Opus play in any browser as they are; libvpx's realtime mode is about as quick as
    # x264's superfast here (figures in docs/operations.md).
    "webm": _Codecs(
        "webm",
        "libvpx-vp9",
        {"deadline": "realtime", "cpu-used": "8", "crf": "34", "b": "0", "row-mt": "1"},
        "libopus",
        {},
    ),
}


def _encode(
    path: Path,
    codecs: _Codecs,
    width: int,
    height: int,
    frames: int,
    scene: _Scene,
    overlay: _Overlay,
    tone: _Tone | None,
) -> None:
    time_base = Fraction(1, FPS)
    with av.open(str(path), mode="w", format=codecs.format, container_options=codecs.container_options) as output:
        output.metadata["comment"] = "DEMO FOOTAGE rendered by footage-bot"
        stream = output.add_stream(codecs.video, rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.options = codecs.video_options
        # Every stream exists before the first packet: the header is written with it.
        sound = tone.add_to(output, codecs.audio) if tone is not None else None
        for index in range(frames):
            picture = scene.frame(index / frames)
            overlay.apply(picture, index, frames)
            # PyAV's stub leaves from_image untyped; it returns a VideoFrame.
            frame: av.VideoFrame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            frame.time_base = time_base
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
        if tone is not None and sound is not None:
            tone.mux(output, sound)


@dataclass(frozen=True, slots=True)
class _Tone:
    """A chord of two sines under a slow swell, mono AAC at `SAMPLE_RATE`."""

    frequencies: tuple[float, float]
    seconds: int

    @staticmethod
    def add_to(output: av.container.OutputContainer, codec: str) -> av.AudioStream:
        stream = output.add_stream(codec, rate=SAMPLE_RATE)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        return stream

    def mux(self, output: av.container.OutputContainer, stream: av.AudioStream) -> None:
        total = self.seconds * SAMPLE_RATE
        time_base = Fraction(1, SAMPLE_RATE)
        step = stream.codec_context.frame_size or AUDIO_FRAME_SAMPLES  # AAC 1024, Opus 960
        for start in range(0, total, step):
            count = min(step, total - start)
            frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
            samples = array("f", (self._sample((start + index) / SAMPLE_RATE) for index in range(count))).tobytes()
            plane = frame.planes[0]
            plane.update(samples + bytes(plane.buffer_size - len(samples)))
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, time_base
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))

    def _sample(self, t: float) -> float:
        swell = math.sin(math.pi * t / self.seconds)  # silent at both ends: no click
        low, high = self.frequencies
        return 0.15 * swell * (math.sin(2 * math.pi * low * t) + 0.5 * math.sin(2 * math.pi * high * t))


def _tone(rng: random.Random, seconds: int) -> _Tone:
    root = 220.0 * 2 ** (rng.randrange(12) / 12)
    return _Tone((root, root * 1.5), seconds)


def _palette(rng: random.Random, count: int) -> list[RGB]:
    base = rng.random()
    colours = []
    for index in range(count):
        hue = (base + index / count + rng.uniform(-0.05, 0.05)) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 0.85), rng.uniform(0.55, 0.95))
        colours.append((int(red * 255), int(green * 255), int(blue * 255)))
    return colours


class _Scene(Protocol):
    def frame(self, t: float) -> Image.Image:
        """The background at `t` in [0, 1), a fresh RGB image the caller may draw on."""


@dataclass(frozen=True, slots=True)
class _Shape:
    kind: int  # 0 ellipse, 1 rotating polygon, 2 ring
    colour: RGB
    radius: float
    centre: tuple[float, float]
    swing: tuple[float, float]
    cycles: tuple[int, int]  # whole cycles per clip, so motion is smooth at any length
    phase: float
    sides: int


class _Shapes:
    """A drifting two-colour gradient with shapes on Lissajous paths, all from the seed."""

    def __init__(self, width: int, height: int, rng: random.Random) -> None:
        self.width, self.height = width, height
        start, end, *accents = _palette(rng, 6)
        # The gradient is twice as wide as the frame; each frame crops a sliding window of it.
        mask = Image.linear_gradient("L").rotate(90).resize((width * 2, height))
        self.background = Image.composite(Image.new("RGB", mask.size, start), Image.new("RGB", mask.size, end), mask)
        self.drift_phase = rng.uniform(0, 2 * math.pi)
        short = min(width, height)
        self.shapes = [
            _Shape(
                kind=rng.randrange(3),
                colour=rng.choice(accents),
                radius=rng.uniform(0.08, 0.2) * short,
                centre=(rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height),
                swing=(rng.uniform(0.1, 0.3) * width, rng.uniform(0.1, 0.3) * height),
                cycles=(rng.randint(1, 2), rng.randint(1, 2)),
                phase=rng.uniform(0, 2 * math.pi),
                sides=rng.randint(3, 6),
            )
            for _ in range(rng.randint(4, 6))
        ]

    def frame(self, t: float) -> Image.Image:
        offset = round(self.width / 2 * (1 + math.sin(2 * math.pi * t + self.drift_phase)))
        picture = self.background.crop((offset, 0, offset + self.width, self.height))
        draw = ImageDraw.Draw(picture)
        for shape in self.shapes:
            angle = 2 * math.pi * t
            x = shape.centre[0] + shape.swing[0] * math.sin(shape.cycles[0] * angle + shape.phase)
            y = shape.centre[1] + shape.swing[1] * math.cos(shape.cycles[1] * angle + shape.phase)
            box = (x - shape.radius, y - shape.radius, x + shape.radius, y + shape.radius)
            if shape.kind == 0:
                draw.ellipse(box, fill=shape.colour)
            elif shape.kind == 1:
                rotation = math.degrees(angle) + math.degrees(shape.phase)
                draw.regular_polygon((x, y, shape.radius), shape.sides, rotation=rotation, fill=shape.colour)
            else:
                draw.ellipse(box, outline=shape.colour, width=max(4, round(shape.radius / 5)))
        return picture


class _KenBurns:
    """Image-to-video: a slow zoom and pan across the input image, direction from the seed."""

    def __init__(self, data: bytes, width: int, height: int, rng: random.Random) -> None:
        self.width, self.height = width, height
        try:
            with Image.open(io.BytesIO(data)) as source:
                source.draft("RGB", (width * 2, height * 2))  # JPEG: decode at reduced size, faster
                upright = ImageOps.exif_transpose(source).convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            raise BadInputImage(f"the input image cannot be read: {error}") from None
        self.base = ImageOps.fit(upright, (round(width * ZOOM), round(height * ZOOM)), Image.Resampling.LANCZOS)
        self.zoom_in = rng.random() < 0.5
        self.pan = (rng.uniform(-1, 1), rng.uniform(-1, 1))

    def frame(self, t: float) -> Image.Image:
        eased = 0.5 - 0.5 * math.cos(math.pi * t)
        zoom = 1 + (ZOOM - 1) * (eased if self.zoom_in else 1 - eased)
        view_w, view_h = self.base.width / zoom, self.base.height / zoom
        # Pan within the slack the zoom leaves, so the view never leaves the image.
        slack_x, slack_y = (self.base.width - view_w) / 2, (self.base.height - view_h) / 2
        left = slack_x * (1 + self.pan[0] * eased)
        top = slack_y * (1 + self.pan[1] * eased)
        box = (left, top, left + view_w, top + view_h)
        return self.base.resize((self.width, self.height), Image.Resampling.BILINEAR, box=box)


class _Overlay:
    """The text, drawn once into RGBA patches and pasted onto each frame."""

    def __init__(self, width: int, height: int, prompt: str, footer: str) -> None:
        self.width, self.height = width, height
        short = min(width, height)
        self.margin = round(short * 0.04)
        self.clock_font = ImageFont.load_default(size=round(short * 0.04))
        self.patches = [
            (self._badge(short), (self.margin, self.margin)),
        ]
        block = self._prompt_block(prompt, footer, short)
        self.patches.append((block, ((width - block.width) // 2, height - block.height - 3 * self.margin)))

    def _badge(self, short: int) -> Image.Image:
        font = ImageFont.load_default(size=round(short * 0.05))
        left, top, right, bottom = font.getbbox(BADGE)
        pad = round(short * 0.02)
        patch = Image.new("RGBA", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), (0, 0, 0, 0))
        draw = ImageDraw.Draw(patch)
        draw.rounded_rectangle((0, 0, patch.width - 1, patch.height - 1), radius=pad, fill=(200, 24, 40, 235))
        draw.text((pad - left, pad - top), BADGE, font=font, fill=(255, 255, 255, 255))
        return patch

    def _prompt_block(self, prompt: str, footer: str, short: int) -> Image.Image:
        font = ImageFont.load_default(size=round(short * 0.055))
        small = ImageFont.load_default(size=round(short * 0.035))
        max_width = self.width - 4 * self.margin
        max_lines = 3 if self.width > self.height else 6
        lines = wrap_text(prompt, font, max_width, max_lines) or ["(no prompt)"]
        line_height = round(short * 0.055 * 1.3)
        footer_height = round(short * 0.035 * 1.6)
        pad = self.margin
        text_width = max(max(font.getlength(line) for line in lines), small.getlength(footer))
        size = (int(text_width) + 2 * pad, line_height * len(lines) + footer_height + 2 * pad)
        patch = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(patch)
        draw.rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=pad, fill=(0, 0, 0, 150))
        for number, line in enumerate(lines):
            draw.text((size[0] // 2, pad + number * line_height), line, font=font, fill="white", anchor="ma")
        footer_top = pad + len(lines) * line_height + footer_height // 4
        draw.text((size[0] // 2, footer_top), footer, font=small, fill=(220, 220, 220, 255), anchor="ma")
        return patch

    def apply(self, picture: Image.Image, index: int, frames: int) -> None:
        for patch, position in self.patches:
            picture.paste(patch, position, patch)
        # A running clock and progress line make motion and length obvious in a player.
        draw = ImageDraw.Draw(picture)
        seconds = index / FPS
        clock = f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"
        x, y = self.width - self.margin, self.margin
        draw.text((x, y), clock, font=self.clock_font, fill="white", anchor="ra", stroke_width=2, stroke_fill="black")
        bar_top = self.height - self.margin
        draw.rectangle((0, bar_top, round(self.width * (index + 1) / frames), bar_top + 4), fill="white")


def wrap_text(text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap by rendered width; over-long words are split, the overflow ends in `…`."""
    words = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split()).split(" ")
    lines: list[str] = []
    current = ""
    for word in filter(None, words):
        while font.getlength(word) > max_width:
            head = _longest_prefix(word, font, max_width)
            if current:
                lines.append(current)
                current = ""
            lines.append(head)
            word = word[len(head) :]
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and font.getlength(last + " …") > max_width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + " …"]
    return lines


def _longest_prefix(word: str, font: Font, max_width: float) -> str:
    end = len(word)
    while end > 1 and font.getlength(word[:end]) > max_width:
        end -= 1
    return word[:end]
