"""``OpenAIImageClient``: generate and edit with an OpenAI-compatible Images API from Python,
each call saved on the one execution path (:mod:`twat_genai.jobs.pipeline`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twat_genai.clients.facade import ProviderFacade, sync_twin
from twat_genai.core.errors import UsageError, validated
from twat_genai.core.inputs import ImageInput, ImageSizeWH
from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    ProviderResponse,
    Request,
)
from twat_genai.providers.openai import OpenAIProvider


class OpenAIImageClient(ProviderFacade):
    """Generate and edit images with an OpenAI-compatible endpoint; every image is saved with
    its JSON sidecar by the shared core. Use the ``a*`` methods from async code (or
    ``async with``), the plain ones from sync code.

    The key comes from ``api_key``, ``OPENAI_API_KEY``/``CLIPROXY_API_KEY`` or ``./.env``;
    the endpoint from ``base_url``, ``OPENAI_BASE_URL``/``CLIPROXY_API_ENDPOINT``, else OpenAI.
    """

    provider_class = OpenAIProvider

    async def agenerate(
        self,
        /,
        prompt: str,
        *,
        model: str = "gpt",
        width: int | None = None,
        height: int | None = None,
        n: int = 1,
        filename_prefix: str | None = None,
        filename_suffix: str | None = None,
        **options: Any,
    ) -> ProviderResponse:
        """Text to image; ``options`` are wire fields (quality, background, output_format, ...)."""
        request = validated(
            ImageGenerationRequest,
            {
                "prompt": prompt,
                "model": model,
                "size": _size(width, height),
                "n": n,
                "options": options,
            },
        )
        return await self._run(request, filename_prefix, filename_suffix)

    async def aedit(
        self,
        /,
        prompt: str,
        images: Sequence[Any],
        *,
        mask: Any = None,
        model: str = "gpt",
        width: int | None = None,
        height: int | None = None,
        n: int = 1,
        filename_prefix: str | None = None,
        filename_suffix: str | None = None,
        **options: Any,
    ) -> ProviderResponse:
        """Edit or combine images (paths, URLs, bytes or ImageInputs); ``mask`` marks the area."""
        if isinstance(images, (str, bytes, Path, ImageInput)):
            images = [images]
        inputs = [ImageInput.from_any(i) for i in images]
        if not inputs:
            raise UsageError("openai edit needs at least one input image")
        request = validated(
            ImageEditRequest,
            {
                "prompt": prompt,
                "model": model,
                "size": _size(width, height),
                "n": n,
                "options": options,
                "images": inputs,
                "mask": ImageInput.from_any(mask) if mask is not None else None,
            },
        )
        prefix = filename_prefix if filename_prefix is not None else inputs[0].stem
        return await self._run(request, prefix, filename_suffix)

    async def _run(
        self, request: Request, prefix: str | None, suffix: str | None
    ) -> ProviderResponse:
        return await self.run_request(
            request, prefix=prefix, suffix=suffix, client="OpenAIImageClient"
        )

    # -- sync twins (same parameters; each runs on its own event loop)

    generate = sync_twin(agenerate)
    edit = sync_twin(aedit)


def _size(width: int | None, height: int | None) -> ImageSizeWH | None:
    if width is None and height is None:
        return None
    if width is None or height is None:
        raise UsageError("give both width and height (or neither for the model's default size)")
    from twat_genai.core.sizes import size_to_wh

    return size_to_wh((width, height))
