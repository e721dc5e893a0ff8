"""Clips that are hard to fit, made by ffmpeg's own generators: for the fit tests and `bench fit`.

Each is deterministic (fixed noise seeds), encoded at high quality so it starts well
over any limit it is fitted to. Noise is the worst case for a rate controller,
full-frame motion the usual hard one, a static scene with grain the one where a
first guess overshoots most easily.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.media.fit import ffmpeg_exe

Content = Literal["noise", "motion", "static"]
FPS = 24
# About what providers send (a 10 s 1080p clip of 20-60 MB): high quality, well over any limit here.
SOURCE_CRF = 18

_PICTURES: dict[Content, str] = {
    "noise": "color=c=gray:s={w}x{h}:r={fps}:d={d},noise=alls=70:allf=t+u:all_seed=11",
    "motion": "testsrc2=s={w}x{h}:r={fps}:d={d},scroll=h=0.011:v=0.006,hue=H=2*PI*t/3,noise=alls=3:allf=t:all_seed=12",
    "static": "smptehdbars=s={w}x{h}:r={fps}:d={d},noise=alls=5:allf=t:all_seed=13",
}


@dataclass(frozen=True, slots=True)
class HardClip:
    content: Content
    short_side: int  # 16:9, this many lines
    seconds: float
    audio: bool  # pink noise, the hardest sound to squeeze

    @property
    def name(self) -> str:
        sound = "audio" if self.audio else "silent"
        return f"{self.content}-{self.short_side}p-{self.seconds:g}s-{sound}"

    @property
    def size(self) -> tuple[int, int]:
        return 2 * round(self.short_side * 16 / 9 / 2), self.short_side


def write_hard_clip(clip: HardClip, path: Path) -> Path:
    """Blocking: one ffmpeg run (seconds for the small ones, a minute for 15 s of 1080p noise)."""
    width, height = clip.size
    picture = _PICTURES[clip.content].format(w=width, h=height, fps=FPS, d=clip.seconds)
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", picture]
    if clip.audio:
        command += ["-f", "lavfi", "-i", f"anoisesrc=d={clip.seconds}:c=pink:r=48000:a=0.4:seed=14"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", str(SOURCE_CRF), "-pix_fmt", "yuv420p"]
    if clip.audio:
        command += ["-c:a", "aac", "-b:a", "256k"]
    command += [str(path)]
    # Our own argument list for the wheel's binary; no shell.
    subprocess.run(command, check=True, capture_output=True, timeout=600)  # noqa: S603
    return path
