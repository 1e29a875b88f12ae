"""Input images as bytes, for every provider: local files are validated before any request,
remote URLs fetched with the transport's timeouts and size cap."""

from __future__ import annotations

import asyncio

from twat_genai.core import media
from twat_genai.core.errors import DownloadError, UsageError
from twat_genai.core.inputs import ImageInput, validate_local_input
from twat_genai.transport.http import HttpClient


async def read_input(inp: ImageInput, http: HttpClient) -> tuple[bytes, str, tuple[int, int]]:
    """(bytes, mime type, (width, height)) of an input image, checked to be a real image."""
    if inp.is_remote:
        assert inp.url is not None
        try:
            data, _ = await http.fetch_bytes(inp.url, max_bytes=media.MAX_INPUT_BYTES)
        except DownloadError as exc:
            raise UsageError(f"cannot fetch input image {inp.describe()}: {exc}") from exc
        return await asyncio.to_thread(_check_bytes, data, inp.describe())
    return await asyncio.to_thread(validate_local_input, inp)


def _check_bytes(data: bytes, source: str) -> tuple[bytes, str, tuple[int, int]]:
    img = media.decode_image(data, source=source)
    mime = media.sniff_media_type(data) or "image/png"
    return data, mime, (img.width, img.height)
