"""What fal's models answer: Flux generation, the upscalers and Bria, with real image bytes.

Runs in a worker thread (Pillow work); errors are :class:`FalModelError` turned into the
outcome the result call replays, as on fal.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from .. import media
from ..scenarios import Scenarios
from . import args as fa
from .args import IMAGE_SIZE_PRESETS
from .errors import FalModelError, Outcome, error_for_code, validation_error

if TYPE_CHECKING:
    from .app import FalEmulator
    from .queue import FalJob

logger = logging.getLogger("twat_genai.testing.fal")

#: Flux endpoints and the input they are conditioned on.
FLUX_ENDPOINTS: dict[str, str] = {
    "fal-ai/flux-lora": "text",
    "fal-ai/flux-lora/image-to-image": "image",
    "fal-ai/flux-lora-canny": "canny",
    "fal-ai/flux-lora-depth": "depth",
    "fal-ai/flux-lora/inpainting": "inpaint",
}


@dataclass(frozen=True)
class Upscaler:
    """How one upscaler endpoint is called and what it answers."""

    factor_key: str | None
    default_factor: float
    keys: tuple[str, ...]  # output keys besides the image(s)
    many: bool = False  # ``images`` list instead of ``image``


UPSCALERS: dict[str, Upscaler] = {
    "fal-ai/esrgan": Upscaler("scale", 2, ()),
    "fal-ai/clarity-upscaler": Upscaler("upscale_factor", 2, ("seed", "timings")),
    "fal-ai/aura-sr": Upscaler("upscaling_factor", 4, ("timings",)),
    "fal-ai/drct-super-resolution": Upscaler("upscaling_factor", 4, ()),
    "fal-ai/ccsr": Upscaler("scale", 2, ("seed",)),
    "fal-ai/ideogram/upscale": Upscaler(None, 2, ("seed",), many=True),
    "fal-ai/recraft-creative-upscale": Upscaler(None, 2, ()),
    "fal-ai/recraft-clarity-upscale": Upscaler(None, 2, ()),
}


class FalModels:
    """The model side of one fal emulator app."""

    def __init__(self, app: FalEmulator) -> None:
        self.app = app

    @staticmethod
    def has_inputs(args: dict[str, Any]) -> bool:
        """Whether the request names an input file (``*_url`` / ``*_urls``)."""
        return any(k.endswith(("_url", "_urls")) for k in args)

    def foreign_note(self, args: dict[str, Any]) -> str | None:
        foreign = [
            f"{k}={v}"
            for k, v in args.items()
            if k.endswith("_url")
            and isinstance(v, str)
            and v.startswith(("http://", "https://"))
            and self.app.server.files.resolve(v) is None
        ]
        if not foreign:
            return None
        return "foreign URL(s) replaced by a 512x512 stand-in (no network): " + ", ".join(foreign)

    def _load(self, args: dict[str, Any], key: str) -> Image.Image:
        """Open the image an ``*_url`` argument points at, or raise fal's 422."""
        value = args.get(key)
        if not isinstance(value, str) or not value:
            raise validation_error(key, "Field required", "missing", args)
        if value.startswith("data:"):
            try:
                data, _ = media.decode_data_uri(value)
                return media.decode(data)
            except media.MediaError as exc:
                raise validation_error(key, str(exc), "image_load_error", value[:64]) from exc
        if not value.startswith(("http://", "https://")):
            raise validation_error(key, "Input should be a valid URL", "url_parsing", value)
        stored = self.app.server.files.resolve(value)
        if stored is None:
            return media.stand_in(value)
        if stored.broken:
            raise validation_error(key, "Failed to download the file", "file_download_error", value)
        try:
            return media.decode(stored.data)
        except media.MediaError as exc:
            raise validation_error(key, str(exc), "image_load_error", value) from exc

    # -- models (run in a worker thread)

    def process(self, endpoint: str, args: dict[str, Any], job: FalJob, duration: float) -> Outcome:
        """Produce the model's answer: output JSON and stored files, or an error outcome."""
        sc = job.scenarios
        try:
            if sc.error:
                raise error_for_code(sc.error, args.get("prompt"))
            if endpoint in UPSCALERS:
                body = self._upscale(endpoint, args, sc, duration)
            elif endpoint == "fal-ai/bria/expand":
                body = self._bria_expand(args, sc)
            elif endpoint == "fal-ai/bria/genfill":
                body = self._bria_genfill(args, sc)
            else:
                body = self._flux(endpoint, args, sc, duration)
        except FalModelError as exc:
            outcome = Outcome(exc.status, exc.body, exc.headers)
            if exc.status >= 500 and isinstance(exc.body, dict):
                outcome.error = str(exc.body.get("detail"))
                outcome.error_type = exc.body.get("error_type")
            return outcome
        except Exception as exc:
            logger.exception("fal emulator model %s failed", endpoint)
            body = {"detail": f"Internal server error: {exc}", "error_type": "internal_error"}
            return Outcome(500, body, {}, "Internal server error", "internal_error")
        return Outcome(200, body)

    def _image(
        self,
        img: Image.Image | None,
        *,
        key: str,
        size: tuple[int, int],
        fmt: str,
        sc: Scenarios,
        sync: bool,
    ) -> dict[str, Any]:
        """Encode (or render), store and describe one output image as fal's ``Image``."""
        if sc.blocked or img is None:
            data = media.render(
                key, size[0], size[1], fmt, blocked=sc.blocked, plain=self.app.server.plain_images
            )
        else:
            data = media.encode(img, fmt)
        ctype = media.content_type_for(fmt)
        if sync:
            url = media.data_uri(data, ctype)
        else:
            name = f"{hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]}"
            name += "." + media.extension_for(ctype)
            url = self.app.server.files.put(
                data, ctype, name, route=self.app.prefix + "/cdn/files", broken=sc.broken_url
            )
        return {"url": url, "width": size[0], "height": size[1], "content_type": ctype}

    def _flux(
        self, endpoint: str, args: dict[str, Any], sc: Scenarios, duration: float
    ) -> dict[str, Any]:
        mode = FLUX_ENDPOINTS.get(endpoint, "text")
        prompt = args.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise validation_error("prompt", "Field required", "missing", args)
        fmt = fa.output_format(args, "jpeg")
        count = fa.int_arg(args, "num_images", 1, 1, 8)
        seed = fa.seed(args, endpoint)
        source = None if mode == "text" else self._load(args, "image_url")
        mask = self._load(args, "mask_url") if mode == "inpaint" else None
        default = source.size if source is not None else IMAGE_SIZE_PRESETS["landscape_4_3"]
        size = fa.image_size(args, default)
        strength = fa.float_arg(args, "strength", 0.95 if mode == "image" else 0.85, 0.0, 1.0)
        images = []
        for i in range(count):
            key = f"{endpoint}|{prompt}|{seed + i}"
            img: Image.Image | None = None
            if source is not None and not sc.blocked:
                base = media.fit(source, *size)
                if mode == "canny":
                    img = media.edges(base)
                elif mode == "depth":
                    img = media.blend(media.depth_like(base), key, 0.5)
                elif mode == "inpaint" and mask is not None:
                    img = media.fill_masked(base, mask, key)
                else:
                    img = media.blend(base, key, strength)
            images.append(
                self._image(
                    img, key=key, size=size, fmt=fmt, sc=sc, sync=bool(args.get("sync_mode"))
                )
            )
        return {
            "images": images,
            "timings": {"inference": round(duration, 4)},
            "seed": seed,
            "has_nsfw_concepts": [sc.blocked] * count,
            "prompt": prompt,
        }

    def _upscale(
        self, endpoint: str, args: dict[str, Any], sc: Scenarios, duration: float
    ) -> dict[str, Any]:
        spec = UPSCALERS[endpoint]
        source = self._load(args, "image_url")
        factor = spec.default_factor
        if spec.factor_key is not None:
            factor = fa.float_arg(args, spec.factor_key, spec.default_factor, 0.1, 8.0)
        fmt = fa.output_format(args, "png")
        out = media.scale(source, factor)
        key = f"{endpoint}|{args.get('image_url', '')[:200]}|{factor}"
        image = self._image(
            out, key=key, size=out.size, fmt=fmt, sc=sc, sync=bool(args.get("sync_mode"))
        )
        body: dict[str, Any] = {"images": [image]} if spec.many else {"image": image}
        if "seed" in spec.keys:
            body["seed"] = fa.seed(args, endpoint)
        if "timings" in spec.keys:
            body["timings"] = {"inference": round(duration, 4)}
        return body

    def _bria_expand(self, args: dict[str, Any], sc: Scenarios) -> dict[str, Any]:
        source = self._load(args, "image_url")
        w, h = source.size
        ratio = args.get("aspect_ratio")
        if isinstance(ratio, str) and ratio:
            try:
                rw, rh = (int(x) for x in ratio.split(":"))
            except ValueError as exc:
                raise validation_error(
                    "aspect_ratio", "Invalid aspect ratio", "enum", ratio
                ) from exc
            canvas = (round(h * rw / rh), h) if w * rh < h * rw else (w, round(w * rh / rw))
            size, location = (w, h), ((canvas[0] - w) // 2, (canvas[1] - h) // 2)
        else:
            canvas = fa.pair(args, "canvas_size", None, 1, 5000)
            size = fa.pair(args, "original_image_size", (w, h), 1, 5000)
            default_loc = ((canvas[0] - size[0]) // 2, (canvas[1] - size[1]) // 2)
            location = fa.pair(args, "original_image_location", default_loc, -5000, 5000)
        seed = fa.seed(args, "fal-ai/bria/expand")
        key = f"bria/expand|{args.get('prompt', '')}|{seed}"
        img = None if sc.blocked else media.expand_canvas(source, canvas, size, location, key)
        image = self._image(
            img, key=key, size=canvas, fmt="png", sc=sc, sync=bool(args.get("sync_mode"))
        )
        return {"image": image, "seed": seed}

    def _bria_genfill(self, args: dict[str, Any], sc: Scenarios) -> dict[str, Any]:
        source = self._load(args, "image_url")
        mask = self._load(args, "mask_url")
        prompt = args.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise validation_error("prompt", "Field required", "missing", args)
        seed = fa.seed(args, "fal-ai/bria/genfill")
        count = fa.int_arg(args, "num_images", 1, 1, 4)
        images = []
        for i in range(count):
            key = f"bria/genfill|{prompt}|{seed + i}"
            img = None if sc.blocked else media.fill_masked(source, mask, key)
            images.append(
                self._image(
                    img,
                    key=key,
                    size=source.size,
                    fmt="png",
                    sc=sc,
                    sync=bool(args.get("sync_mode")),
                )
            )
        return {"images": images, "seed": seed}
