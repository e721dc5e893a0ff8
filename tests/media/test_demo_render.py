from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from PIL import Image, ImageFont

from bot.media.demo_render import FPS, BadInputImage, frame_size, render_demo, wrap_text
from bot.media.probe import probe_video

PROMPT = "A lighthouse on a cliff at dusk, waves crashing below, seagulls circling, cinematic slow dolly"


def decoded_frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def picture(frame: av.VideoFrame) -> Image.Image:
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]  # untyped in PyAV's stub
    return image


def first_frame_bytes(path: Path) -> bytes:
    with av.open(str(path)) as container:
        return picture(next(container.decode(video=0))).tobytes()


@pytest.mark.parametrize(
    ("aspect", "size"),
    [("16:9", (854, 480)), ("9:16", (480, 854)), ("1:1", (480, 480)), ("4:3", (640, 480))],
)
def test_clip_has_requested_shape_length_and_codec(tmp_path: Path, aspect: str, size: tuple[int, int]) -> None:
    clip = render_demo(tmp_path / "clip.mp4", prompt=PROMPT, seconds=2, aspect=aspect, seed=7)

    assert (clip.width, clip.height) == size
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.duration is not None
        assert stream.time_base is not None
        assert abs(float(stream.duration * stream.time_base) - 2) <= 1 / FPS
        frames = list(container.decode(stream))
    assert len(frames) == 2 * FPS
    assert {(frame.width, frame.height) for frame in frames} == {size}
    assert not list(tmp_path.glob("*.part"))


def test_index_comes_first_so_players_can_stream(tmp_path: Path) -> None:
    clip = render_demo(tmp_path / "clip.mp4", prompt=PROMPT, seconds=1, aspect="16:9", seed=1)
    head = clip.path.read_bytes()
    assert 0 < head.find(b"moov") < head.find(b"mdat")


def test_same_seed_same_frames_other_seed_other_frames(tmp_path: Path) -> None:
    first = render_demo(tmp_path / "a.mp4", prompt=PROMPT, seconds=1, aspect="1:1", seed=123)
    again = render_demo(tmp_path / "b.mp4", prompt=PROMPT, seconds=1, aspect="1:1", seed=123)
    other = render_demo(tmp_path / "c.mp4", prompt=PROMPT, seconds=1, aspect="1:1", seed=124)

    assert first_frame_bytes(first.path) == first_frame_bytes(again.path)
    assert first_frame_bytes(first.path) != first_frame_bytes(other.path)


def test_input_image_is_the_moving_background(tmp_path: Path) -> None:
    # Green only, brighter to the right: any pixel of it has no red or blue.
    ramp = Image.linear_gradient("L").rotate(90).resize((640, 400))
    black = Image.new("L", ramp.size, 0)
    source = io.BytesIO()
    Image.merge("RGB", (black, ramp, black)).save(source, format="PNG")

    clip = render_demo(tmp_path / "i2v.mp4", prompt=PROMPT, seconds=2, aspect="16:9", seed=5, image=source.getvalue())

    frames = decoded_frames(clip.path)
    assert len(frames) == 2 * FPS
    first, last = picture(frames[0]), picture(frames[-1])
    pixel = first.getpixel((clip.width // 2, clip.height // 3))
    assert isinstance(pixel, tuple)
    red, green, blue = pixel[:3]
    assert green > 60
    assert red < 40
    assert blue < 40
    # The slow zoom moves the image between the first and the last frame.
    row = (0, clip.height // 3, clip.width, clip.height // 3 + 1)
    assert first.crop(row).tobytes() != last.crop(row).tobytes()


def test_unreadable_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputImage):
        render_demo(tmp_path / "x.mp4", prompt=PROMPT, seconds=1, aspect="1:1", seed=1, image=b"not an image")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("aspect", ["16x9", "0:1", "9:1", ""])
def test_bad_aspect_is_refused(aspect: str) -> None:
    with pytest.raises(ValueError, match="aspect"):
        frame_size(aspect)


def test_frame_sides_are_even() -> None:
    assert frame_size("21:9") == (1120, 480)
    assert all(side % 2 == 0 for aspect in ("16:9", "5:4", "3:2", "9:21") for side in frame_size(aspect))


def test_long_prompts_wrap_within_the_width_and_end_in_an_ellipsis() -> None:
    font = ImageFont.load_default(size=26)
    lines = wrap_text(" ".join(["word"] * 200) + " " + "x" * 300, font, 400, 4)
    assert len(lines) == 4
    assert all(font.getlength(line) <= 400 for line in lines)
    assert lines[-1].endswith("…")

    unbroken = wrap_text("y" * 120, font, 400, 10)
    assert len(unbroken) > 1
    assert "".join(unbroken) == "y" * 120


def test_control_characters_and_blank_prompts() -> None:
    font = ImageFont.load_default(size=26)
    assert wrap_text("a\tb\n\x00c", font, 400, 3) == ["a b c"]
    assert wrap_text("  \n ", font, 400, 3) == []


def test_a_webm_clip_is_vp9_with_opus_sound(tmp_path: Path) -> None:
    clip = render_demo(
        tmp_path / "clip.webm", prompt=PROMPT, seconds=2, aspect="16:9", seed=4, audio=True, container="webm"
    )
    info = probe_video(clip.path)
    assert (info.webm, info.codec, info.has_audio) == (True, "vp9", True)
    assert info.duration == pytest.approx(2, abs=0.05)
    with av.open(str(clip.path)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
    assert not probe_video(render_demo(tmp_path / "clip.mp4", prompt=PROMPT, seconds=1, aspect="1:1", seed=4).path).webm
