"""``FALImageInput``: an input image that knows how to become a URL fal accepts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from twat_genai.core.inputs import ImageInput

if TYPE_CHECKING:
    from twat_genai.providers.fal import FalProvider


class FALImageInput(ImageInput):
    """An :class:`ImageInput` for fal: remote URLs pass through; local files, bytes and PIL
    images are uploaded to fal storage (with a provider) or sent inline as a ``data:`` URI."""

    async def to_url(self, provider: FalProvider | None = None) -> str:
        if self.url is not None:
            return self.url
        if provider is not None:
            url, _ = await provider.image_url(self)
            return url
        from twat_genai.core.inputs import validate_local_input
        from twat_genai.core.media import to_data_uri

        data, mime, _ = await asyncio.to_thread(validate_local_input, self)
        return to_data_uri(data, mime)
