"""The fal.ai provider: neutral requests → fal queue jobs → neutral responses, for any endpoint.

Arguments come from the model's catalog entry (``models.toml``): each neutral field goes under
the entry's wire name, the size in the entry's form, input images under its input names, and
``options`` (the CLI's ``--param``) last, as given. An endpoint the catalog does not hold gets
fal's common names (``image_size``, ``num_images``, ``image_url``). Outputs are found by their
shape: ``images[]``, ``image``, ``video``, ``audio`` or any file object with a ``url``.

Two operations take more than one job: Bria outpainting (expand, then GenFill over the seam) and
Flux outpainting (inpainting on a padded canvas); see :mod:`twat_genai.providers.fal.outpaint`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from twat_genai.core import media
from twat_genai.core.errors import ProviderError, UsageError
from twat_genai.core.inputs import ImageInput
from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    MediaKind,
    ProviderResponse,
    Request,
)
from twat_genai.core.records import shorten
from twat_genai.core.sizes import nearest_aspect_ratio
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.catalog import SizeSpec
from twat_genai.providers.fal.queue import FalJob, FalQueue, WaitStats, fal_urls
from twat_genai.providers.fal.sizes import fal_image_size
from twat_genai.providers.inputs import note_input, read_input
from twat_genai.transport.retry import note_retry

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo

log = logging.getLogger("twat_genai.fal")
#: Times a paid job is followed (re-attached by its request id) before its item fails.
REATTACH_ATTEMPTS = 4

#: The endpoint each of the README's operations calls when a request names none.
OPERATION_ENDPOINTS = {
    "text": "fal-ai/flux-lora",
    "image": "fal-ai/flux-lora/image-to-image",
    "canny": "fal-ai/flux-lora-canny",
    "depth": "fal-ai/flux-lora-depth",
    "upscale": "fal-ai/esrgan",
    "outpaint": "fal-ai/bria/expand",
    "outpaint_flux": "fal-ai/flux-lora/inpainting",
    "genfill": "fal-ai/bria/genfill",
}


class FalProvider(Provider):
    name = "fal"
    summary = "fal.ai: any fal endpoint; FLUX LoRA, upscalers, Bria and Flux outpainting built in"
    key_env = ("FAL_KEY",)
    base_url_env = ("TWAT_GENAI_FAL_BASE_URL",)
    default_base_url = ""
    default_concurrency = 8
    queues = True
    request_id_headers = ("x-fal-request-id", "x-request-id")
    model_patterns = (r"fal-ai/", r"workflows/", r"comfy/")
    default_model = OPERATION_ENDPOINTS["text"]
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit", "video", "background_removal"}),
        operations=frozenset(
            {"image", "canny", "depth", "upscale", "outpaint", "outpaint_flux", "edit"}
        ),
        max_images_per_call=4,
    )
    # What most fal endpoints call these (fal-js endpoints.ts), for ids the catalog lacks.
    default_map: ClassVar[dict[str, str]] = {
        "prompt": "prompt",
        "negative_prompt": "negative_prompt",
        "seed": "seed",
        "n": "num_images",
        "guidance_scale": "guidance_scale",
        "num_inference_steps": "num_inference_steps",
        "strength": "strength",
        "loras": "loras",
    }
    default_size = SizeSpec(form="preset", param="image_size")
    default_inputs: ClassVar[dict[str, str]] = {"image": "image_url", "mask": "mask_url"}

    @classmethod
    def default_model_for(cls, request: Request) -> str | None:
        if isinstance(request, ImageEditRequest):
            return OPERATION_ENDPOINTS.get(request.operation)
        if isinstance(request, ImageGenerationRequest):
            return cls.default_model
        return None  # video and background removal: the caller names the endpoint

    def __init__(self, *, job_timeout: float | None = None, **kwargs: Any) -> None:
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
        from twat_genai.providers.fal import outpaint

        if not isinstance(request, ImageGenerationRequest):
            endpoint = request.model or ""
            if not endpoint:
                raise UsageError(f"fal: a {type(request).__name__} needs an endpoint id")
            info = self.model_info(endpoint)
            return await self.job(endpoint, await self._other_args(info, request), ctx)
        operation = request.operation if isinstance(request, ImageEditRequest) else "text"
        endpoint = request.model or OPERATION_ENDPOINTS.get(operation) or ""
        info = self.model_info(endpoint)
        if isinstance(request, ImageEditRequest):
            if operation == "outpaint_flux":
                return await outpaint.flux(self, request, info, ctx)
            if info.flow == "bria-outpaint" or operation == "outpaint":
                return await outpaint.bria(self, request, info, ctx)
        return await self.job(endpoint, await self.arguments(info, request), ctx)

    # -- arguments ---------------------------------------------------------------------------

    async def arguments(
        self, info: ModelInfo, request: ImageGenerationRequest, *, inputs: bool = True
    ) -> dict[str, Any]:
        """The wire arguments for ``request`` on the model ``info`` describes (with ``inputs``,
        its images uploaded and placed)."""
        args = self.mapped(info, request)
        if isinstance(request, ImageEditRequest) and inputs:
            await self._inputs(info, request, args)
        args.update(request.options)
        return args

    def mapped(self, info: ModelInfo, request: ImageGenerationRequest) -> dict[str, Any]:
        """The arguments that come from the request's settings (no inputs, no options)."""
        args: dict[str, Any] = {}
        put = _putter(info, args)
        put("prompt", request.prompt or None)
        self._size(info, request, args)
        put("n", request.n)
        put("seed", request.seed)
        put("negative_prompt", request.negative_prompt or None)
        put("guidance_scale", request.guidance_scale)
        put("num_inference_steps", request.num_inference_steps)
        if request.loras:
            put("loras", [{"path": lw.path, "scale": lw.scale} for lw in request.loras])
        if isinstance(request, ImageEditRequest):
            put("strength", request.strength)
        if "enable_safety_checker" in info.params:
            # Off unless asked for (docs/decisions.md): fal's default differs per endpoint.
            args["enable_safety_checker"] = False
        return args

    def preview(self, request: Request) -> dict[str, Any]:
        """The arguments a submit would send, input images shown as ``<upload: …>``."""
        endpoint = request.model or self.default_model_for(request) or ""
        info = self.model_info(endpoint)
        if not isinstance(request, ImageGenerationRequest):
            return {"endpoint": endpoint, **request.model_dump(mode="json", exclude_none=True)}
        args = self.mapped(info, request)
        if isinstance(request, ImageEditRequest):
            shown = [upload_placeholder(i) for i in request.images]
            if "images" in info.inputs:
                args[info.inputs["images"]] = shown
            else:
                args[info.inputs.get("image", "image_url")] = shown[0]
            if request.mask is not None:
                args[info.inputs.get("mask", "mask_url")] = upload_placeholder(request.mask)
            if info.flow == "bria-outpaint" or request.operation in ("outpaint", "outpaint_flux"):
                size = request.size
                args["canvas_size"] = [size.width, size.height] if size else None
        args.update(request.options)
        return {"endpoint": endpoint, "arguments": args}

    def _size(self, info: ModelInfo, request: ImageGenerationRequest, args: dict[str, Any]) -> None:
        spec = info.size
        param = spec.param or "image_size"
        if spec.form == "aspect_ratio":
            ratio = request.aspect_ratio
            if ratio is None and request.size is not None and spec.values:
                ratio = nearest_aspect_ratio(request.size.width, request.size.height, spec.values)
            if ratio:
                args[param] = ratio
        elif request.size_preset or request.size:
            wanted = request.size_preset or request.size
            if spec.form == "preset":
                args[param] = fal_image_size(wanted)
            elif spec.form == "wh" and request.size is not None:
                args[param] = {"width": request.size.width, "height": request.size.height}

    async def _inputs(
        self, info: ModelInfo, request: ImageEditRequest, args: dict[str, Any]
    ) -> None:
        side = info.max_input_side
        png = info.input_formats == ("png",)
        urls = [await self.image_url(i, max_side=side, png=png) for i in request.images]
        if "images" in info.inputs:
            args[info.inputs["images"]] = [u for u, _ in urls]
        else:
            args[info.inputs.get("image", "image_url")] = urls[0][0]
        if request.mask is not None:
            args[info.inputs.get("mask", "mask_url")], _ = await self.image_url(request.mask)

    async def _other_args(self, info: ModelInfo, request: Request) -> dict[str, Any]:
        """Video and background-removal requests: prompt, frames or image, and options."""
        args: dict[str, Any] = {}
        prompt = getattr(request, "prompt", None)
        if prompt:
            args[info.wire("prompt", "prompt") or "prompt"] = prompt
        for name, neutral in (("first_frame", "image"), ("image", "image")):
            value = getattr(request, name, None)
            if isinstance(value, ImageInput):
                wire = info.inputs.get(name) or info.inputs.get(neutral, "image_url")
                args[wire], _ = await self.image_url(value)
        last = getattr(request, "last_frame", None)
        if isinstance(last, ImageInput):
            args[info.inputs.get("last_frame", "end_image_url")], _ = await self.image_url(last)
        for neutral in ("seed", "negative_prompt", "resolution", "fps", "num_frames"):
            value = getattr(request, neutral, None)
            target = info.wire(neutral)
            if value is not None and target:
                args[target] = value
        args.update(request.options)
        return args

    # -- inputs ------------------------------------------------------------------------------

    async def image_url(
        self, inp: ImageInput, *, max_side: int | None = None, png: bool = False
    ) -> tuple[str, tuple[int, int] | None]:
        """A URL fal can read: remote URLs as they are (unless they must be resized or
        converted first), everything else uploaded once per content."""
        if inp.is_remote and max_side is None and not png:
            assert inp.url is not None
            note_input(inp.url)  # fal reads it itself: nothing to hash here
            return inp.url, None
        data, mime, size = await read_input(inp, self.fetcher)
        original = size
        if max_side is not None and max(size) > max_side:
            data, _, size = await asyncio.to_thread(media.resize_to_max_side, data, max_side)
            mime = media.sniff_media_type(data) or mime
        if png and mime != "image/png":
            data = await asyncio.to_thread(media.reencode_png, data)
            mime = "image/png"
        if size != original or png:
            note_input(inp.describe(), data, size, sent_as=f"{mime} {size[0]}x{size[1]}")
        return await self.upload(data, mime), size

    async def upload(self, data: bytes, mime: str) -> str:
        """Upload bytes once per run (keyed by content hash), whoever asks and however often."""
        digest = hashlib.sha256(data).hexdigest()
        task = self._uploads.get(digest)
        if task is None:
            name = f"{digest[:16]}.{media.extension_for(mime)}"
            task = asyncio.ensure_future(self.queue.upload(data, mime, name))
            self._uploads[digest] = task
        try:
            return await asyncio.shield(task)
        except ProviderError:
            self._uploads.pop(digest, None)
            raise

    # -- one job -----------------------------------------------------------------------------

    async def job(
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
        started = time.monotonic()
        stats = WaitStats(on_status=lambda status: ctx.event("status", status=status))
        result = await self._follow(job, ctx, stats, on_done)
        timings = {"queued": round(stats.queue_time, 3)}
        timings["running"] = round(max(0.0, time.monotonic() - started - stats.queue_time), 3)
        return ProviderResponse(
            provider=self.name,
            model=endpoint,
            request_id=job.request_id,
            files=files_in(result),
            sent=shorten(args),
            raw=shorten(result),
            timings={
                **timings,
                **{
                    k: float(v)
                    for k, v in (result.get("timings") or {}).items()
                    if isinstance(v, (int, float))
                },
            },
        )

    async def _follow(
        self, job: FalJob, ctx: CallContext, stats: WaitStats, on_done: Callable[[], None] | None
    ) -> dict[str, Any]:
        """Follow a job to its result. The job exists and is paid for: when following breaks
        (the connection, a 5xx, a silent server), it re-attaches by its request id a few times
        before giving up, and a cancel (the item's deadline) is reported with what it achieved."""
        for attempt in range(REATTACH_ATTEMPTS):
            try:
                return await self.queue.follow(
                    job, timeout=self.job_timeout, on_done=on_done, stats=stats
                )
            except asyncio.CancelledError:
                ctx.event("cancelled", outcome=stats.cancelled)
                raise
            except ProviderError as exc:
                if not exc.retryable or attempt + 1 >= REATTACH_ATTEMPTS:
                    raise
                log.info("re-attaching to %s after: %s", job.request_id, exc)
                note_retry()
                await asyncio.sleep(exc.retry_after or 0.5 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


def upload_placeholder(inp: ImageInput) -> str:
    """How a dry run shows an input: a remote URL as it is, anything else as an upload."""
    return inp.url if inp.is_remote and inp.url else f"<upload: {inp.describe()}>"


def _putter(info: ModelInfo, args: dict[str, Any]) -> Any:
    """``put(neutral, value)``: set the neutral field's wire name when the model takes it."""

    def put(neutral: str, value: Any) -> None:
        wire = info.wire(neutral)
        if value is not None and wire:
            args[wire] = value

    return put


#: Result keys that hold output files, in the order they are saved.
_FILE_KEYS = ("images", "image", "video", "videos", "audio", "audio_file", "file", "files")


def files_in(result: dict[str, Any]) -> list[MediaFile]:
    """Every output file of a fal result, found by shape: ``images[]``, ``image``, ``video``,
    ``audio`` or any other file object (a dict with a ``url``) at the top level;
    ``has_nsfw_concepts`` marks blocked images."""
    nsfw = result.get("has_nsfw_concepts") or []
    seed = result.get("seed")
    found: list[tuple[str, dict[str, Any]]] = []
    keys = [k for k in _FILE_KEYS if k in result] + [k for k in result if k not in _FILE_KEYS]
    for key in keys:
        value = result[key]
        objects = value if isinstance(value, list) else [value]
        found += [
            (key, o) for o in objects if isinstance(o, dict) and isinstance(o.get("url"), str)
        ]
    files = []
    for i, (key, obj) in enumerate(found):
        ctype = str(obj.get("content_type") or "")
        kind = MediaKind.IMAGE
        if key.startswith("video") or ctype.startswith("video/"):
            kind = MediaKind.VIDEO
        elif key.startswith("audio") or ctype.startswith("audio/"):
            kind = MediaKind.AUDIO
        files.append(
            MediaFile(
                kind=kind,
                url=obj["url"],
                content_type=ctype or None,
                width=obj.get("width"),
                height=obj.get("height"),
                seed=seed if isinstance(seed, int) else None,
                blocked=bool(nsfw[i]) if key in ("images", "image") and i < len(nsfw) else False,
            )
        )
    return files
