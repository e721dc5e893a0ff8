"""Load and check the input image of an image-to-video job: a Discord attachment URL or a local file.

Every image is read under a byte cap as it streams, and its declared width and height
are checked from its header before anything decodes it: a small PNG can declare
13,000 x 13,000 pixels and take gigabytes once decoded. `check_image` is what every
path that hands an image to a backend calls (the runner, `render`).
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from PIL import Image

from bot.backends.base import ExternalWait, InputImage, await_directly

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_SUFFIX_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
# The first bytes of each accepted format: the type a server claims is not trusted.
_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}
# Above any provider's input limit (8K UHD is 33 Mpx), far below what would strain memory.
MAX_IMAGE_PIXELS = 40_000_000
DOWNLOAD_SECONDS = 60.0


class ImageError(Exception):
    """The input image is missing, too big, or not a PNG, JPEG or WebP."""


class ImageUnavailable(ImageError):
    """The input image could not be fetched: the bot's side of the job, not the video service's."""


# Fetches an http(s) URL's bytes (at most `max_bytes`), raising ImageUnavailable or ImageError.
Download = Callable[[str, int], Awaitable[bytes]]


def sniff(data: bytes) -> str | None:
    for magic, content_type in _MAGIC.items():
        if data.startswith(magic) and (content_type != "image/webp" or data[8:12] == b"WEBP"):
            return content_type
    return None


async def load_image(
    source: str, max_bytes: int, *, wait: ExternalWait = await_directly, download: Download | None = None
) -> InputImage:
    """`download` fetches URLs (a Discord client fetches attachments its own way); by default, plain HTTP."""
    if source.startswith(("http://", "https://")):
        data = await wait((download or _download)(source, max_bytes), "input image download")
        name = source.split("?", 1)[0].rsplit("/", 1)[-1] or "image"
    else:
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"input image {path} does not exist")
        data = await asyncio.to_thread(read_capped, path, max_bytes)
        name = path.name
    return InputImage(data=data, content_type=check_image(data), filename=name)


def read_capped(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, refused past `max_bytes` without reading further (blocking)."""
    with path.open("rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageError(f"input image is larger than {max_bytes // 1024} KiB")
    return data


def check_image(data: bytes) -> str:
    """The image's content type, once its format and its declared size are acceptable; no pixel is decoded."""
    content_type = sniff(data)
    if content_type is None:
        raise ImageError("the input image must be a PNG, JPEG or WebP file")
    try:
        with warnings.catch_warnings():
            # Pillow's own warning is ours to give, with the size, below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                width, height = image.size
    except Image.DecompressionBombError:  # more than twice Pillow's limit: it refuses to say the size
        raise _too_many_pixels() from None
    except (OSError, ValueError, SyntaxError):
        raise ImageError("the input image cannot be read") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels(f" ({width} x {height})")
    return content_type


def _too_many_pixels(size: str = "") -> ImageError:
    return ImageError(f"the input image is too large{size}; the limit is {MAX_IMAGE_PIXELS // 1_000_000} megapixels")


async def _download(url: str, max_bytes: int) -> bytes:
    try:
        async with asyncio.timeout(DOWNLOAD_SECONDS):
            return await _download_capped(url, max_bytes)
    except TimeoutError:
        raise ImageError(f"the input image did not download within {DOWNLOAD_SECONDS:g} s") from None


async def _download_capped(url: str, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    timeout = httpx.Timeout(30.0, connect=10.0)
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise ImageUnavailable(f"could not download the input image (HTTP {response.status_code})")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise ImageError(f"input image is larger than {max_bytes // 1024} KiB")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ImageError(f"input image is larger than {max_bytes // 1024} KiB")
                chunks.append(chunk)
    except httpx.HTTPError as error:
        raise ImageUnavailable(f"could not download the input image ({type(error).__name__})") from None
    return b"".join(chunks)


def content_type_for(filename: str) -> str | None:
    return _SUFFIX_TYPES.get(Path(filename).suffix.lower())
