"""The fal.ai provider: neutral requests → fal queue jobs → neutral responses.

Operations (``ImageEditRequest.operation``): ``image`` (img2img), ``canny``, ``depth``,
``upscale`` (the endpoint is ``request.model``; its real arguments come in ``options``),
``outpaint`` (Bria expand + optional GenFill border pass), ``outpaint_flux`` (Flux inpainting
on a padded canvas) and ``edit`` (any fal endpoint taking ``image_url``/``mask_url``).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, ClassVar

from twat_genai.core import media
from twat_genai.core.errors import ProviderError, UsageError
from twat_genai.core.inputs import ImageInput
from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    ProviderResponse,
    Request,
)
from twat_genai.core.records import shorten
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.fal import geometry
from twat_genai.providers.fal.endpoints import BY_OPERATION, endpoint_info
from twat_genai.providers.fal.queue import FalJob, FalQueue, fal_urls
from twat_genai.providers.inputs import read_input

MAX_CANVAS_PIXELS = 5000 * 5000


class FalProvider(Provider):
    name = "fal"
    summary = "fal.ai: FLUX LoRA text/image/canny/depth, 8 upscalers, Bria and Flux outpainting"
    key_env = ("FAL_KEY",)
    base_url_env = ("TWAT_GENAI_FAL_BASE_URL",)
    default_base_url = ""
    default_concurrency = 8
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit"}),
        operations=frozenset(
            {"image", "canny", "depth", "upscale", "outpaint", "outpaint_flux", "edit"}
        ),
        max_images_per_call=4,
        fields=frozenset(
            {
                "negative_prompt",
                "size",
                "seed",
                "guidance_scale",
                "num_inference_steps",
                "loras",
                "n",
            }
        ),
    )

    def __init__(self, *, job_timeout: float | None = 1800.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queue = FalQueue(self.http, fal_urls(self.base_url), fetcher=self.fetcher)
        self.job_timeout = job_timeout
        self._uploads: dict[str, asyncio.Task[str]] = {}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.api_key}"}

    @property
    def upload_count(self) -> int:
        return len(self._uploads)

    # -- the contract ------------------------------------------------------------------------

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        if isinstance(request, ImageEditRequest):
            op = request.operation
            if op == "outpaint":
                return await self._outpaint_bria(request, ctx)
            if op == "outpaint_flux":
                return await self._outpaint_flux(request, ctx)
            return await self._edit(request, ctx)
        if isinstance(request, ImageGenerationRequest):
            endpoint = request.model or BY_OPERATION["text"]
            return await self._job(endpoint, self._text_args(request), ctx)
        raise UsageError(f"fal cannot run a {type(request).__name__}")

    # -- argument building -------------------------------------------------------------------

    def _text_args(self, request: ImageGenerationRequest) -> dict[str, Any]:
        from twat_genai.providers.fal.sizes import fal_image_size

        args: dict[str, Any] = {"prompt": request.prompt}
        if request.size_preset or request.size:
            args["image_size"] = fal_image_size(request.size_preset or request.size)
        if request.num_inference_steps is not None:
            args["num_inference_steps"] = request.num_inference_steps
        if request.guidance_scale is not None:
            args["guidance_scale"] = request.guidance_scale
        args["num_images"] = request.n
        if request.seed is not None:
            args["seed"] = request.seed
        if request.negative_prompt:
            args["negative_prompt"] = request.negative_prompt
        if request.loras:
            args["loras"] = [{"path": lw.path, "scale": lw.scale} for lw in request.loras]
        args.update(request.options)
        return args

    async def _edit(self, request: ImageEditRequest, ctx: CallContext) -> ProviderResponse:
        op = request.operation
        endpoint = request.model or BY_OPERATION.get(op)
        if endpoint is None:
            raise UsageError(f"fal: operation {op!r} needs an endpoint (request.model)")
        info = endpoint_info(endpoint)
        if request.loras and not info.takes_loras:
            raise UsageError(f"LoRAs cannot be used with {endpoint}; drop --lora for this command")
        if op == "upscale":
            url, _ = await self.image_url(request.images[0], max_side=info.max_input_side)
            args: dict[str, Any] = {"image_url": url}
            if info.takes_prompt and request.prompt:
                args["prompt"] = request.prompt
            if request.seed is not None and "seed" not in request.options:
                args["seed"] = request.seed
            args.update(request.options)
            return await self._job(endpoint, args, ctx)
        args = self._text_args(request)
        args["image_url"], _ = await self.image_url(request.images[0])
        if request.mask is not None:
            args["mask_url"], _ = await self.image_url(request.mask)
        if op == "image" and request.strength is not None:
            args["strength"] = request.strength
        return await self._job(endpoint, args, ctx)

    # -- outpainting (SPEC §6.4, §6.5) ---------------------------------------------------------

    def _canvas(self, request: ImageEditRequest) -> tuple[int, int]:
        size = request.size
        if size is None:
            raise UsageError("outpaint needs a target size: --target_width and --target_height")
        if size.width * size.height >= MAX_CANVAS_PIXELS:
            raise UsageError(
                f"outpaint canvas {size.width}x{size.height} is too large: keep it below 5000x5000"
            )
        return size.width, size.height

    def _check_fits(self, w: int, h: int, cw: int, ch: int) -> None:
        if w > cw or h > ch:
            raise UsageError(
                f"input image {w}x{h} does not fit the {cw}x{ch} outpaint canvas: "
                "choose a target size at least as large as the input"
            )

    async def _outpaint_bria(self, request: ImageEditRequest, ctx: CallContext) -> ProviderResponse:
        cw, ch = self._canvas(request)
        data, mime, (w, h) = await read_input(request.images[0], self.fetcher)
        self._check_fits(w, h, cw, ch)  # before anything is uploaded
        options = dict(request.options)
        factor = float(options.pop("border_thickness_factor", 0.0) or 0.0)
        save_mask = bool(options.pop("save_mask", False))
        url = await self.upload(data, mime)
        args: dict[str, Any] = {
            "image_url": url,
            "canvas_size": [cw, ch],
            "original_image_size": [w, h],
            "original_image_location": list(geometry.center_location(cw, ch, w, h)),
            "prompt": request.prompt,
            "num_images": request.n,
        }
        if request.negative_prompt:
            args["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            args["seed"] = request.seed
        args.update(options)
        # With a GenFill pass to follow, the expand job is not the end of the remote work.
        expanded = await self._job(
            request.model or BY_OPERATION["outpaint"], args, ctx, last=factor <= 0
        )
        if factor <= 0 or not expanded.files:
            return expanded
        first = expanded.files[0]
        out_w, out_h = first.width, first.height
        if not (out_w and out_h):
            assert first.url is not None
            out_bytes, _ = await self.fetcher.fetch_bytes(first.url)
            first.data = out_bytes
            out_w, out_h = media.probe_size(out_bytes)
        mask = await asyncio.to_thread(
            geometry.create_genfill_border_mask, out_w, out_h, w, h, factor
        )
        if mask is None:
            return expanded
        mask_png = await asyncio.to_thread(media.encode_png, mask)
        if save_mask:
            expanded.files.append(MediaFile(data=mask_png, content_type="image/png", role="mask"))
        try:
            mask_url = await self.upload(mask_png, "image/png")
            genfill_args: dict[str, Any] = {
                "prompt": request.prompt,
                "image_url": first.url,
                "mask_url": mask_url,
                "num_images": request.n,
            }
            if request.negative_prompt:
                genfill_args["negative_prompt"] = request.negative_prompt
            filled = await self._job(BY_OPERATION["genfill"], genfill_args, ctx.stage("genfill"))
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

    async def _outpaint_flux(self, request: ImageEditRequest, ctx: CallContext) -> ProviderResponse:
        cw, ch = self._canvas(request)
        data, _, (w, h) = await read_input(request.images[0], self.fetcher)
        self._check_fits(w, h, cw, ch)
        big, mask = await asyncio.to_thread(geometry.create_flux_inpainting_assets, data, cw, ch)
        image_url, mask_url = await asyncio.gather(
            self.upload(big, "image/png"), self.upload(mask, "image/png")
        )
        args = self._text_args(request.model_copy(update={"size": None, "size_preset": None}))
        args.update(
            {
                "image_url": image_url,
                "mask_url": mask_url,
                "strength": request.strength if request.strength is not None else 0.85,
                "image_size": {"width": cw, "height": ch},
            }
        )
        return await self._job(request.model or BY_OPERATION["outpaint_flux"], args, ctx)

    # -- inputs ------------------------------------------------------------------------------

    async def image_url(
        self, inp: ImageInput, *, max_side: int | None = None
    ) -> tuple[str, tuple[int, int] | None]:
        """A URL fal can read: remote URLs as they are (unless they must be resized first),
        everything else uploaded once per content."""
        if inp.is_remote and max_side is None:
            assert inp.url is not None
            return inp.url, None
        data, mime, size = await read_input(inp, self.fetcher)
        if max_side is not None and max(size) > max_side:
            data, _, size = await asyncio.to_thread(media.resize_to_max_side, data, max_side)
            mime = media.sniff_media_type(data) or mime
        return await self.upload(data, mime), size

    async def upload(self, data: bytes, mime: str) -> str:
        """Upload bytes once per run (keyed by content hash), whoever asks and however often."""
        from twat_genai.core.media import extension_for

        digest = hashlib.sha256(data).hexdigest()
        task = self._uploads.get(digest)
        if task is None:
            name = f"{digest[:16]}.{extension_for(mime)}"
            task = asyncio.ensure_future(self.queue.upload(data, mime, name))
            self._uploads[digest] = task
        try:
            return await asyncio.shield(task)
        except ProviderError:
            self._uploads.pop(digest, None)
            raise

    # -- one job -----------------------------------------------------------------------------

    async def _job(
        self, endpoint: str, args: dict[str, Any], ctx: CallContext, *, last: bool = True
    ) -> ProviderResponse:
        """Submit (or re-attach to) one queue job and return its response; ``last`` says no
        other job of this call follows, so its completion frees the caller's slot."""
        if ctx.resume and ctx.resume.get("endpoint") == endpoint:
            job = FalJob.from_handle(ctx.resume)
            ctx.event("resumed", request_id=job.request_id)
        else:
            job = await self.queue.submit(endpoint, args)
            await ctx.submitted(job.handle())
            ctx.event("submitted", request_id=job.request_id)
        # The job is done once the status says so: the slot is free before the result fetch.
        on_done = (lambda: ctx.event("remote_done")) if last else None
        result = await self.queue.follow(job, timeout=self.job_timeout, on_done=on_done)
        return ProviderResponse(
            provider=self.name,
            model=endpoint,
            request_id=job.request_id,
            files=_files(result),
            sent=shorten(args),
            raw=shorten(result),
            timings={
                k: float(v)
                for k, v in (result.get("timings") or {}).items()
                if isinstance(v, (int, float))
            },
        )


def _files(result: dict[str, Any]) -> list[MediaFile]:
    """``images[]`` or ``image`` in fal's output; ``has_nsfw_concepts`` marks blocked images."""
    images = result.get("images")
    if not isinstance(images, list):
        single = result.get("image")
        images = [single] if isinstance(single, dict) else []
    nsfw = result.get("has_nsfw_concepts") or []
    seed = result.get("seed")
    files = []
    for i, img in enumerate(images):
        if not isinstance(img, dict) or not img.get("url"):
            continue
        files.append(
            MediaFile(
                url=str(img["url"]),
                content_type=img.get("content_type"),
                width=img.get("width"),
                height=img.get("height"),
                seed=seed if isinstance(seed, int) else None,
                blocked=bool(nsfw[i]) if i < len(nsfw) else False,
            )
        )
    return files
