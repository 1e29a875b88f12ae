"""The Chutes provider: neutral requests → one synchronous POST per chute cord → saved media.

Requests are routed to a cord of :data:`~twat_genai.providers.chutes.endpoints.ENDPOINTS` by
:func:`~twat_genai.providers.chutes.endpoints.operation_for`. Hosts are
``https://{slug}.chutes.ai``; a base URL (argument or ``TWAT_GENAI_CHUTES_BASE_URL``) sends
``https://{slug}.chutes.ai/p`` to ``<base>/{slug}/p`` instead (a ``{slug}`` placeholder in the
base is filled in). Wire facts: PROTOCOLS.md §4, SPEC §7.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, ClassVar

from twat_genai.core.inputs import ImageInput
from twat_genai.core.models import ProviderResponse, Request
from twat_genai.core.records import shorten
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.catalog import ModelInfo, SizeSpec
from twat_genai.providers.chutes.endpoints import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODELS,
    Endpoint,
    chutes_url,
    endpoint_for,
    operation_for,
)
from twat_genai.providers.chutes.limits import check_body
from twat_genai.providers.chutes.wire import chutes_error_info, parse_outputs, request_id
from twat_genai.providers.inputs import read_input
from twat_genai.transport._httpx import httpx
from twat_genai.transport.http import HttpClient
from twat_genai.transport.retry import RetryPolicy


class ChutesProvider(Provider):
    """Chutes: one synchronous POST per request, routed by :func:`operation_for`."""

    name = "chutes"
    summary = (
        "Chutes: FLUX/SDXL/Qwen image router, HiDream generate+edit, rembg, SkyReels/Wan video"
    )
    key_env = ("CHUTES_API_KEY", "CHUTES_API_TOKEN")
    base_url_env = ("TWAT_GENAI_CHUTES_BASE_URL",)
    default_base_url = ""
    # Chutes cold-starts chutes per request burst; a few at a time avoids 429 infra_overload.
    default_concurrency = 2
    default_model = DEFAULT_IMAGE_MODEL
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit", "video", "background_removal"}),
        operations=frozenset({"edit"}),
        max_images_per_call=1,
    )
    # The diffusion router's field names (PROTOCOLS §4.3), for models the catalog lacks.
    default_map: ClassVar[dict[str, str]] = {
        "prompt": "prompt",
        "negative_prompt": "negative_prompt",
        "seed": "seed",
        "guidance_scale": "guidance_scale",
        "num_inference_steps": "num_inference_steps",
    }
    default_size = SizeSpec(form="wh", param="width,height")

    @classmethod
    def default_model_for(cls, request: Request) -> str | None:
        return DEFAULT_MODELS.get(operation_for(request), cls.default_model)

    def __init__(self, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        self._retry = retry
        self._timeout = kwargs.get("timeout")
        super().__init__(**kwargs)

    def make_http(self, *, transport: Any, timeout: float | None) -> HttpClient:
        # No auth header on the client: it also fetches input URLs from other hosts.
        return HttpClient(
            self.name,
            transport=transport,
            timeout=timeout,
            retry=self._retry,
            error_parser=chutes_error_info,
        )

    def url_for(self, endpoint: Endpoint) -> str:
        return chutes_url(self.base_url, endpoint)

    def _planned(self, request: Request) -> tuple[Endpoint, ModelInfo, dict[str, Any], list[str]]:
        """The cord, catalog entry, checked body (inputs not yet added) and warnings."""
        info = self.model_info(request.model or self.default_model_for(request))
        endpoint = endpoint_for(request, info)
        body, warnings = endpoint.build(request, info)
        body.update(request.options)
        check_body(info, body, endpoint.rules)
        return endpoint, info, body, warnings

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        endpoint, info, body, warnings = self._planned(request)
        for spec in endpoint.inputs:
            image = spec.source(request)
            if image is not None:
                size = spec.frame(body) if spec.frame else None
                body[spec.name] = await self._encode(image, size)
        ctx.event("started", endpoint=endpoint.label)
        timeout = httpx.Timeout(self._timeout or endpoint.read_timeout, connect=10.0)
        # Timed here: ``response.elapsed`` is unset (and raises) for buffered responses.
        started = time.monotonic()
        response = await self.http.request(
            "POST",
            self.url_for(endpoint),
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
            retry="safe",  # a read timeout may mean a billed generation: never resend it
            timeout=timeout,
        )
        elapsed = time.monotonic() - started
        model = (
            body["model"] if endpoint.slug == "image" else info.id if info.known else endpoint.label
        )
        files, raw = parse_outputs(response, body.get("seed"), str(model))
        return ProviderResponse(
            provider=self.name,
            model=str(model),
            request_id=request_id(response, files),
            files=files,
            sent=shorten(body),
            raw=raw,
            warnings=warnings,
            timings={"inference": round(elapsed, 3)},
        )

    def preview(self, request: Request) -> dict[str, Any]:
        """The body a call would send, checked; input images shown by their source."""
        endpoint, _, body, _ = self._planned(request)
        for spec in endpoint.inputs:
            image = spec.source(request)
            if image is not None:
                body[spec.name] = f"<base64 of {image.describe()}>"
        return {"endpoint": self.url_for(endpoint), "arguments": body}

    async def _encode(self, image: ImageInput, frame: tuple[int, int] | None) -> str:
        """Raw base64 of an input; video frames cover-cropped to ``frame`` as JPEG first."""
        from twat_genai.core.media import cover_crop

        data, _, _ = await read_input(image, self.fetcher)
        if frame is not None:
            data = await asyncio.to_thread(cover_crop, data, frame[0], frame[1], "jpeg")
        return base64.b64encode(data).decode("ascii")
