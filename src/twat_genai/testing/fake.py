"""``FakeProvider``: a deterministic in-process provider for the core's own tests and for plugin
authors. It speaks the provider interface like any other (catalog entries, submitted handles,
re-attachment), makes real PNG bytes from the request, and never touches a network.

The same request and seed give the same pixels. Every job it runs is counted in
:attr:`FakeProvider.submissions` (per class), so a test can prove a resumed batch paid nothing
twice.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any, ClassVar

from twat_genai.core.models import (
    ImageEditRequest,
    ImageGenerationRequest,
    MediaFile,
    ProviderResponse,
    Request,
)
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.providers.catalog import ModelInfo, SizeSpec

_MAP = {"prompt": "prompt", "negative_prompt": "negative_prompt", "seed": "seed", "n": "n"}


class FakeProvider(Provider):
    """Text to image and edits, computed locally: ``fake-image`` and ``fake-edit``."""

    name = "fake"
    summary = "deterministic in-process test provider (no network, no key)"
    catalog_file = None
    model_patterns = (r"fake-",)
    default_model = "fake-image"
    default_concurrency = 4
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset({"image", "edit"}), operations=frozenset({"edit"}), max_images_per_call=4
    )
    default_map: ClassVar[dict[str, str]] = _MAP
    default_size = SizeSpec(form="wh", param="size")
    #: Request ids of every job run, per provider class (not per instance).
    submissions: ClassVar[list[str]] = []

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("base_url", "fake://local")
        super().__init__(**kwargs)

    @classmethod
    def catalog_entries(cls) -> list[ModelInfo]:
        """``<name>-image`` and ``<name>-edit``, built here; a subclass that names a
        :attr:`catalog_file` ships its own entries instead (as a plugin would)."""
        if cls.catalog_file is not None:
            return super().catalog_entries()
        common: dict[str, Any] = {
            "provider": cls.name,
            "max_images": 4,
            "seed": True,
            "map": _MAP,
            "source": "twat_genai.testing.fake",
            "checked": "2026-11-30",
        }
        return [
            ModelInfo(
                id=f"{cls.name}-image",
                kind="text-to-image",
                title="deterministic test images",
                size=SizeSpec(form="wh", param="size"),
                **common,
            ),
            ModelInfo(
                id=f"{cls.name}-edit",
                kind="edit",
                title="deterministic test edits",
                inputs={"image": "image"},
                **common,
            ),
        ]

    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        if not isinstance(request, ImageGenerationRequest):
            raise TypeError(f"{self.name} makes images only")
        sent = request.model_dump(mode="json", exclude={"images", "mask"})
        if isinstance(request, ImageEditRequest):
            sent["images"] = [i.describe() for i in request.images]
        digest = hashlib.sha256(json.dumps(sent, sort_keys=True).encode()).hexdigest()
        if ctx.resume and ctx.resume.get("request_id"):
            request_id = str(ctx.resume["request_id"])
            ctx.event("resumed", request_id=request_id)
        else:
            request_id = f"{self.name}-{digest[:12]}-{len(type(self).submissions)}"
            type(self).submissions.append(request_id)
            await ctx.submitted({"request_id": request_id, "model": request.model})
        ctx.event("remote_done")
        size = (request.size.width, request.size.height) if request.size else (64, 64)
        seed = request.seed if request.seed is not None else int(digest[:6], 16)
        files = [
            MediaFile(data=picture(f"{digest}|{seed + i}", size), content_type="image/png",
                      seed=seed + i, width=size[0], height=size[1])
            for i in range(request.n)
        ]  # fmt: skip
        return ProviderResponse(
            provider=self.name,
            model=request.model or self.default_model or "",
            request_id=request_id,
            files=files,
            sent=sent,
        )


def picture(key: str, size: tuple[int, int]) -> bytes:
    """A PNG whose colours follow ``key``: equal keys, equal pixels."""
    from PIL import Image

    h = hashlib.sha256(key.encode()).digest()
    img = Image.new("RGB", size, (h[0], h[1], h[2]))
    w, hh = size
    img.paste(
        (h[3], h[4], h[5]),
        (w // 4, hh // 4, max(w // 4 + 1, 3 * w // 4), max(hh // 4 + 1, 3 * hh // 4)),
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


__all__ = ["FakeProvider", "picture"]
