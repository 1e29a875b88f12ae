"""``GeminiImageClient``: Gemini image transforms and generation from Python, each call saved on
the one execution path (:mod:`twat_genai.jobs.pipeline`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twat_genai.clients.facade import ProviderFacade, sync_twin
from twat_genai.core.errors import UsageError, validated
from twat_genai.core.inputs import ImageInput
from twat_genai.core.models import ImageEditRequest, ImageGenerationRequest, ProviderResponse
from twat_genai.providers.gemini import GeminiProvider


class GeminiImageClient(ProviderFacade):
    """Transform and generate images with Gemini; every image is saved with its sidecar by the
    shared core. ``a*`` methods for async code (or ``async with``), plain ones for sync code.

    The key comes from ``api_key``, ``GEMINI_API_KEY``/``GOOGLE_API_KEY`` or ``./.env``; the
    endpoint from ``base_url``, ``TWAT_GENAI_GEMINI_BASE_URL``/``GOOGLE_GEMINI_BASE_URL``.
    """

    provider_class = GeminiProvider

    async def atransform(
        self,
        subject: Any,
        reference: Any,
        prompt: str,
        *,
        model: str = "nano",
        aspect_ratio: str | None = None,
        image_size: str | None = None,
        filename_prefix: str | None = None,
        filename_suffix: str | None = None,
    ) -> ProviderResponse:
        """Apply ``prompt`` to ``subject`` guided by ``reference`` (parts: text, subject,
        reference); the aspect ratio defaults to the subject's."""
        images = [ImageInput.from_any(subject), ImageInput.from_any(reference)]
        return await self.agenerate(
            prompt,
            images=images,
            model=model,
            aspect_ratio=aspect_ratio,
            image_size=image_size,
            filename_prefix=filename_prefix,
            filename_suffix=filename_suffix,
        )

    async def agenerate(
        self,
        prompt: str,
        *,
        images: Sequence[Any] = (),
        model: str = "nano",
        aspect_ratio: str | None = None,
        image_size: str | None = None,
        width: int | None = None,
        height: int | None = None,
        filename_prefix: str | None = None,
        filename_suffix: str | None = None,
    ) -> ProviderResponse:
        """Text (plus optional input images) to image."""
        size = None
        if width is not None or height is not None:
            if width is None or height is None:
                raise UsageError("give both width and height, or an aspect ratio")
            from twat_genai.core.sizes import size_to_wh

            size = size_to_wh((width, height))
        options = {"image_size": image_size} if image_size else {}
        inputs = [ImageInput.from_any(i) for i in images]
        request: ImageGenerationRequest
        fields = {
            "prompt": prompt,
            "model": model,
            "aspect_ratio": aspect_ratio,
            "size": size,
            "options": options,
        }
        if inputs:
            request = validated(ImageEditRequest, {**fields, "images": inputs})
        else:
            request = validated(ImageGenerationRequest, fields)
        prefix = filename_prefix
        if prefix is None and inputs:
            prefix = inputs[0].stem
        return await self.run_request(
            request, prefix=prefix, suffix=filename_suffix, client="GeminiImageClient"
        )

    # -- sync twins (same parameters; each runs on its own event loop)

    transform = sync_twin(atransform)
    generate = sync_twin(agenerate)
