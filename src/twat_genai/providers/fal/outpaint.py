"""fal outpainting, the two operations that take more than one job (SPEC §6.4, §6.5).

Bria: ``fal-ai/bria/expand`` places the input on a larger canvas, then (when the border factor
is above 0) ``fal-ai/bria/genfill`` repaints a band over the seam; both images are saved.
Flux: the input is centred on a transparent canvas with a mask that keeps it, and
``fal-ai/flux-lora/inpainting`` fills the rest. Geometry lives in
:mod:`twat_genai.providers.fal.geometry`; inputs are checked before anything is uploaded.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from twat_genai.core import media
from twat_genai.core.errors import ProviderError, UsageError
from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    ProviderResponse,
)
from twat_genai.providers.fal import geometry
from twat_genai.providers.inputs import read_input

if TYPE_CHECKING:
    from twat_genai.providers.base import CallContext
    from twat_genai.providers.catalog import ModelInfo
    from twat_genai.transport.http import HttpClient


class FalJobs(Protocol):
    """What the flows need of the fal provider: the key-less fetcher, uploads, the argument
    mapping and one queue job."""

    fetcher: HttpClient

    async def upload(self, data: bytes, mime: str) -> str: ...

    async def arguments(
        self, info: ModelInfo, request: ImageGenerationRequest, *, inputs: bool = True
    ) -> dict[str, Any]: ...

    async def job(
        self, endpoint: str, args: dict[str, Any], ctx: CallContext, *, last: bool = True
    ) -> ProviderResponse: ...


MAX_CANVAS_PIXELS = 5000 * 5000
GENFILL = "fal-ai/bria/genfill"


def canvas(request: ImageEditRequest) -> tuple[int, int]:
    size = request.size
    if size is None:
        raise UsageError(
            "outpaint needs a target size: --target_width and --target_height "
            "(--size WxH with generate)"
        )
    if size.width * size.height >= MAX_CANVAS_PIXELS:
        raise UsageError(
            f"outpaint canvas {size.width}x{size.height} is too large: keep it below 5000x5000"
        )
    return size.width, size.height


def check_fits(w: int, h: int, cw: int, ch: int) -> None:
    if w > cw or h > ch:
        raise UsageError(
            f"input image {w}x{h} does not fit the {cw}x{ch} outpaint canvas: "
            "choose a target size at least as large as the input"
        )


async def bria(
    fal: FalJobs, request: ImageEditRequest, info: ModelInfo, ctx: CallContext
) -> ProviderResponse:
    """Bria expand, then the GenFill border pass when ``border_thickness_factor`` > 0."""
    cw, ch = canvas(request)
    data, mime, (w, h) = await read_input(request.images[0], fal.fetcher)
    check_fits(w, h, cw, ch)  # before anything is uploaded
    options = dict(request.options)
    factor = float(options.pop("border_thickness_factor", 0.0) or 0.0)
    save_mask = bool(options.pop("save_mask", False))
    url = await fal.upload(data, mime)
    args: dict[str, Any] = {
        "image_url": url,
        "canvas_size": [cw, ch],
        "original_image_size": [w, h],
        "original_image_location": list(geometry.center_location(cw, ch, w, h)),
    }
    if request.prompt:
        args["prompt"] = request.prompt
    if request.negative_prompt:
        args["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        args["seed"] = request.seed
    args.update(options)
    # With a GenFill pass to follow, the expand job is not the end of the remote work.
    expanded = await fal.job(info.id, args, ctx, last=factor <= 0)
    if factor <= 0 or not expanded.files:
        return expanded
    first = expanded.files[0]
    out_w, out_h = first.width, first.height
    if not (out_w and out_h):
        assert first.url is not None
        out_bytes, _ = await fal.fetcher.fetch_bytes(first.url)
        first.data = out_bytes
        out_w, out_h = media.probe_size(out_bytes)
    mask = await asyncio.to_thread(geometry.create_genfill_border_mask, out_w, out_h, w, h, factor)
    if mask is None:
        return expanded
    mask_png = await asyncio.to_thread(media.encode_png, mask)
    if save_mask:
        expanded.files.append(MediaFile(data=mask_png, content_type="image/png", role="mask"))
    try:
        mask_url = await fal.upload(mask_png, "image/png")
        genfill_args: dict[str, Any] = {
            "prompt": request.prompt,
            "image_url": first.url,
            "mask_url": mask_url,
            "num_images": request.n,
        }
        if request.negative_prompt:
            genfill_args["negative_prompt"] = request.negative_prompt
        filled = await fal.job(GENFILL, genfill_args, ctx.stage("genfill"))
    except ProviderError as exc:
        expanded.warnings.append(f"GenFill border pass failed, kept the expanded image: {exc}")
        return expanded
    for f in filled.files:
        f.role = "genfill"
    filled.files.extend(expanded.files)
    filled.sent = {
        "expand": expanded.sent,
        "genfill": filled.sent,
        "border_thickness_factor": factor,
    }
    filled.raw = {"expand": expanded.raw, "genfill": filled.raw}
    filled.warnings = expanded.warnings + filled.warnings
    filled.model = f"{expanded.model} + {filled.model}"
    filled.request_id = expanded.request_id
    return filled


async def flux(
    fal: FalJobs, request: ImageEditRequest, info: ModelInfo, ctx: CallContext
) -> ProviderResponse:
    """Flux inpainting over a padded canvas: the original kept, the rest generated."""
    cw, ch = canvas(request)
    data, _, (w, h) = await read_input(request.images[0], fal.fetcher)
    check_fits(w, h, cw, ch)
    big, mask = await asyncio.to_thread(geometry.create_flux_inpainting_assets, data, cw, ch)
    image_url, mask_url = await asyncio.gather(
        fal.upload(big, "image/png"), fal.upload(mask, "image/png")
    )
    plain = request.model_copy(update={"size": None, "size_preset": None})
    args = await fal.arguments(info, plain, inputs=False)
    args.update(
        {
            "image_url": image_url,
            "mask_url": mask_url,
            "strength": request.strength if request.strength is not None else 0.85,
            "image_size": {"width": cw, "height": ch},
        }
    )
    return await fal.job(info.id, args, ctx)
