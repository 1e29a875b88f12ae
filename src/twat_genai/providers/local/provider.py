"""The ``local`` provider: image work on this machine's CPU, no key and no network.

It is registered like any third-party provider (an entry point in ``twat_genai.providers``) and
runs on the same pipeline: the journal, sidecars, embedded parameters and the gallery treat its
results as any other. It is only ever used when chosen (``--provider local``, a local ``--tool``
or one of its model ids): nothing switches between a paid remote call and a local one.

Models (``models.toml`` beside this module): ``realesrgan`` (realesr-animevideov3, x2-x4),
``realesrgan-x4plus`` (x4; its time is estimated and announced before it starts), ``lanczos``,
``canny`` (an edge map) and ``outpaint-classical`` (a classical fill, not generation). Settings
come from the request's ``options`` (``--param``), checked against the catalog before anything
runs. Work runs in a thread; a long Real-ESRGAN run reports its tiles as ``progress`` events and
stops at the next tile when the item is cancelled (Ctrl-C, ``--timeout``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from twat_genai.core import media
from twat_genai.core.errors import UsageError
from twat_genai.core.models import ImageEditRequest, MediaFile, ProviderResponse, Request
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.inputs import read_input

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from twat_genai.providers.catalog import ModelInfo

#: The network each Real-ESRGAN model id runs.
NETWORKS = {"realesrgan": "realesr-animevideov3", "realesrgan-x4plus": "realesrgan-x4plus"}
#: Announce a Real-ESRGAN run estimated to take longer than this, before it starts.
ANNOUNCE_SECONDS = 10.0


class _Stopped(Exception):
    """Raised from the progress callback to stop a run whose item was cancelled."""


class LocalProvider(Provider):
    """Upscaling, edge maps and a classical outpaint fill, computed here."""

    name = "local"
    summary = "this machine: Real-ESRGAN and Lanczos upscaling, Canny edges, classical outpaint"
    default_model = "realesrgan"
    # CPU-bound work: one item at a time already uses every core.
    default_concurrency = 1
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"edit"}),
        operations=frozenset({"edit", "upscale", "canny", "outpaint"}),
    )
    default_inputs: ClassVar[dict[str, str]] = {"image": "image"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("base_url", "local://")
        super().__init__(**kwargs)

    def preview(self, request: Request) -> dict[str, Any]:
        """The operation and its checked settings; refuses a setting the model does not take."""
        info, options = self._settings(request)
        images = getattr(request, "images", None) or []
        source = images[0].describe() if images else None
        return {"endpoint": f"local:{info.id}", "arguments": {"image": source, **options}}

    def _settings(self, request: Request) -> tuple[ModelInfo, dict[str, Any]]:
        info = self.model_info(request.model or self.default_model)
        if not info.known:
            known = ", ".join(e.id for e in self.catalog_entries())
            raise UsageError(f"local has no model {info.id!r}: choose one of {known}")
        options = dict(getattr(request, "options", {}) or {})
        for name, value in options.items():
            spec = info.params.get(name)
            if spec is None:
                takes = ", ".join(info.params) or "no settings"
                raise UsageError(f"local:{info.id} takes {takes}; not {name!r}")
            spec.check(info.id, name, value)
        return info, options

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        if not isinstance(request, ImageEditRequest):
            raise UsageError("local works on an input image: give one with --image PATH")
        info, options = self._settings(request)
        data, _, size = await read_input(request.images[0], self.fetcher)
        work = self._work(info, request, options, size, ctx)
        started = time.monotonic()
        image = await _in_thread(work, data, ctx)
        encoded = await asyncio.to_thread(media.encode_png, image)
        return ProviderResponse(
            provider=self.name,
            model=info.id,
            request_id=uuid.uuid4().hex,
            files=[
                MediaFile(
                    data=encoded,
                    content_type="image/png",
                    width=image.width,
                    height=image.height,
                )
            ],
            sent={"image": request.images[0].describe(), **options},
            timings={"inference": round(time.monotonic() - started, 3)},
        )

    def _work(
        self,
        info: ModelInfo,
        request: ImageEditRequest,
        options: dict[str, Any],
        size: tuple[int, int],
        ctx: CallContext,
    ) -> Callable[[bytes, Callable[[int, int], None]], PILImage.Image]:
        """The operation to run in a thread: ``work(data, on_progress)``."""
        from twat_genai.providers import local

        if info.id in NETWORKS:
            model, scale = NETWORKS[info.id], int(options.get("scale", 4 if "x4" in info.id else 2))
            tile, threads = options.get("tile"), options.get("threads")
            seconds = local.estimate_realesrgan_seconds(
                size, scale=scale, model=model, tile=tile, threads=threads
            )
            if seconds >= ANNOUNCE_SECONDS:
                ctx.event(
                    "notice",
                    text=f"{info.id} x{scale} on {size[0]}x{size[1]}: about {seconds:.0f} s "
                    "on this machine",
                )
            return lambda data, progress: local.realesrgan(
                data, scale=scale, model=model, tile=tile, threads=threads, on_progress=progress
            )
        if info.id == "lanczos":
            factor = float(options.get("scale", 2))
            return lambda data, _: local.lanczos(data, factor)
        if info.id == "canny":
            low, high = options.get("low"), options.get("high")
            return lambda data, _: local.canny(data, low=low, high=high)
        if request.size is None:
            raise UsageError(
                "outpaint needs a target size: --target_width and --target_height "
                "(--size WxH with generate)"
            )
        target, method = (request.size.width, request.size.height), options.get("method", "ns")
        return lambda data, _: local.outpaint_classical(data, target, method=method)


async def _in_thread(
    work: Callable[[bytes, Callable[[int, int], None]], PILImage.Image],
    data: bytes,
    ctx: CallContext,
) -> PILImage.Image:
    """Run ``work`` in a worker thread; its progress reaches ``ctx`` on the event loop, and a
    cancelled item stops it at its next progress report."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise _Stopped
        loop.call_soon_threadsafe(lambda: ctx.event("progress", done=done, total=total))

    try:
        return await asyncio.to_thread(work, data, progress)
    except asyncio.CancelledError:
        stop.set()
        raise


__all__ = ["LocalProvider"]
