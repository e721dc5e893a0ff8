"""Fetching a member's attachment (a start image) through the Discord client, as `Attachment.read()` does.

The core keeps an attachment's URL with the job and loads the image when the job
starts. The client fetches it from the CDN that client talks to: Discord's, or in
the preview and the tests SimCord's, whose URLs lead nowhere else.
"""

from __future__ import annotations

import aiohttp
import discord

from bot.media.input_image import Download, ImageError, ImageUnavailable


def attachment_download(client: discord.Client) -> Download:
    async def download(url: str, max_bytes: int) -> bytes:
        try:
            data: bytes = await client.http.get_from_cdn(url)
        except discord.HTTPException as error:
            raise ImageUnavailable(f"could not fetch the attached image (HTTP {error.status})") from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ImageUnavailable(f"could not fetch the attached image ({type(error).__name__})") from None
        # Discord checked the attachment's size when it was sent; this guards the bytes that came back.
        if len(data) > max_bytes:
            raise ImageError(f"input image is larger than {max_bytes // 1024} KiB")
        return data

    return download
