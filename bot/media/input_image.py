"""Load the input image of an image-to-video job: a Discord attachment URL or a local file."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bot.backends.base import ExternalWait, InputImage, await_directly

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_SUFFIX_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
# The first bytes of each accepted format: the type a server claims is not trusted.
_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}


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
        if path.stat().st_size > max_bytes:
            raise ImageError(f"input image is larger than {max_bytes // 1024} KiB")
        data = await asyncio.to_thread(path.read_bytes)
        name = path.name
    content_type = sniff(data)
    if content_type is None:
        raise ImageError("the input image must be a PNG, JPEG or WebP file")
    return InputImage(data=data, content_type=content_type, filename=name)


async def _download(url: str, max_bytes: int) -> bytes:
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
