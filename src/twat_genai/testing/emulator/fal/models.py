"""What fal's models answer: Flux generation, the upscalers, Bria and any other endpoint id.

Known endpoints (:mod:`.endpoints`) are validated as fal validates them, then answered in their
own output shape; other ids get a generic answer (:mod:`.generic`). Runs in a worker thread
(Pillow work); errors are :class:`FalModelError` turned into the outcome the result call
replays, as on fal. Input URLs arrive already fetched (:mod:`..inputs`): a URL that could not
be fetched or decoded is fal's 422 ``image_load_error``, never a made-up picture.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PIL import Image

from .. import media
from ..app import EmulatorApp
from ..host import Fetched, InputError
from ..scenarios import Scenarios, strip_scenarios
from . import args as fa
from .endpoints import ENDPOINTS, Endpoint, validate
from .errors import FalModelError, Outcome, error_for_code, validation_error

if TYPE_CHECKING:
    from .queue import FalJob

logger = logging.getLogger("twat_genai.testing.fal")

_LOAD_MSG = {
    "download": "Failed to load the image. Please ensure the image URL is publicly accessible.",
    "decode": "Failed to load the image. Please ensure the file is a valid, supported image.",
}


def input_urls(args: Mapping[str, Any]) -> list[str]:
    """The ``http(s)`` URLs of every ``*_url`` / ``*_urls`` argument (what a model downloads)."""
    urls: list[str] = []
    for key, value in args.items():
        if key.endswith("_url"):
            values = [value]
        elif key.endswith("_urls") and isinstance(value, list):
            values = value
        else:
            continue
        urls += [v for v in values if isinstance(v, str) and v.startswith(("http://", "https://"))]
    return urls


class FalModels:
    """The model side of one fal emulator app."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    @staticmethod
    def has_inputs(args: Mapping[str, Any]) -> bool:
        """Whether the request names an input file (``*_url`` / ``*_urls``)."""
        return any(k.endswith(("_url", "_urls")) for k in args)

    # -- inputs

    def load(
        self, args: Mapping[str, Any], key: str, fetched: Fetched, value: Any = None
    ) -> Image.Image:
        """Open the image ``args[key]`` (or ``value``) names, or raise fal's 422."""
        value = args.get(key) if value is None else value
        if value is None or value == "":
            raise validation_error(key, "Field required", "missing", dict(args))
        if not isinstance(value, str):
            raise validation_error(key, "Input should be a valid string", "string_type", value)
        if value.startswith("data:"):
            try:
                data: bytes | InputError = media.decode_data_uri(value)[0]
            except media.MediaError as exc:
                data = InputError("decode", str(exc), value[:64])
        elif value.startswith(("http://", "https://")):
            got = fetched.get(value)
            data = InputError("download", "not fetched", value) if got is None else got
        else:
            raise validation_error(key, "Input should be a valid URL", "url_parsing", value)
        if isinstance(data, InputError):
            raise self._load_error(key, data, value)
        try:
            return media.decode(data)
        except media.MediaError as exc:
            raise self._load_error(key, InputError("decode", str(exc), value), value) from None

    @staticmethod
    def _load_error(key: str, err: InputError, value: str) -> FalModelError:
        shown = value if not value.startswith("data:") else value[:64]
        if "image" in key or "mask" in key:
            msg = _LOAD_MSG[err.kind]
            return validation_error(key, msg, "image_load_error", shown, ctx={"reason": err.reason})
        msg = "Failed to download the file. Please check if the URL is accessible."
        return validation_error(key, msg, "file_download_error", shown, ctx={"reason": err.reason})

    # -- the model

    def process(
        self, endpoint: str, args: dict[str, Any], job: FalJob, duration: float, fetched: Fetched
    ) -> Outcome:
        """Produce the model's answer: output JSON and stored files, or an error outcome."""
        sc = job.scenarios
        try:
            if sc.error:
                raise error_for_code(sc.error, args.get("prompt"))
            spec = ENDPOINTS.get(endpoint)
            if spec is None:
                from .generic import generic_output

                body = generic_output(
                    self, endpoint, args, sc=sc, duration=duration, fetched=fetched
                )
            else:
                validate(spec, args)
                body = self._known(spec, args, sc, duration, fetched)
        except FalModelError as exc:
            return Outcome.of(exc)
        except Exception as exc:
            logger.exception("fal emulator model %s failed", endpoint)
            body = {"detail": f"Internal server error: {exc}", "error_type": "internal_error"}
            return Outcome(500, body, {}, "Internal server error", "internal_error")
        return Outcome(200, body)

    def _known(
        self, spec: Endpoint, args: dict[str, Any], sc: Scenarios, duration: float, fetched: Fetched
    ) -> dict[str, Any]:
        if spec.kind == "upscale":
            return self._upscale(spec, args, sc, duration, fetched)
        if spec.kind == "expand":
            return self._bria_expand(args, sc, fetched)
        if spec.kind == "genfill":
            return self._bria_genfill(args, sc, fetched)
        return self._flux(spec, args, sc, duration, fetched)

    def image(
        self,
        img: Image.Image | None,
        *,
        key: str,
        size: tuple[int, int],
        fmt: str,
        sc: Scenarios,
        sync: bool,
        caption: media.Caption | None = None,
    ) -> dict[str, Any]:
        """Encode (or render), caption, store and describe one output image as fal's
        ``Image`` (``caption`` for generated pictures, ``None`` for utility outputs)."""
        plain = self.app.server.plain_images
        if sc.blocked or img is None or plain:
            data = media.render(
                key, size[0], size[1], fmt, blocked=sc.blocked, plain=plain, caption=caption
            )
        else:
            data = media.encode(media.captioned(img, caption), fmt)
        ctype = media.content_type_for(fmt)
        if sync:
            url = media.data_uri(data, ctype)
        else:
            name = f"{hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]}"
            name += "." + media.extension_for(ctype)
            url = self.app.server.files.put(
                data,
                ctype,
                name,
                route=self.app.prefix + "/cdn/files",
                broken=sc.broken_url,
                owner=self.app.name,
                drip=sc.drip,
                expire_after=sc.expire,
            )
        return {"url": url, "width": size[0], "height": size[1], "content_type": ctype}

    def _flux(
        self, spec: Endpoint, args: dict[str, Any], sc: Scenarios, duration: float, fetched: Fetched
    ) -> dict[str, Any]:
        mode, prompt = spec.kind, str(args["prompt"])
        fmt = fa.output_format(args, "jpeg")
        count = fa.int_arg(args, "num_images", 1, 1, 4)
        seed = fa.seed(args, spec.id)
        source = None if mode == "text" else self.load(args, "image_url", fetched)
        mask = self.load(args, "mask_url", fetched) if mode == "inpaint" else None
        default = source.size if source is not None else fa.IMAGE_SIZE_PRESETS["landscape_4_3"]
        size = fa.image_size(args, default)
        strength = fa.float_arg(args, "strength", 0.95 if mode == "image" else 0.85, 0.0, 1.0)
        draw = not (sc.blocked or self.app.server.plain_images)
        images = []
        for i in range(count):
            key = f"{spec.id}|{prompt}|{seed + i}"
            img: Image.Image | None = None
            if source is not None and draw:
                base = media.fit(source, *size)
                if mode == "canny":
                    img = media.edges(base)
                elif mode == "depth":
                    img = media.blend(media.depth_like(base), key, 0.5)
                elif mode == "inpaint" and mask is not None:
                    img = media.fill_masked(base, mask, key)
                else:
                    img = media.blend(base, key, strength)
            sync = bool(args.get("sync_mode"))
            caption = media.Caption(strip_scenarios(prompt), seed + i)
            images.append(
                self.image(img, key=key, size=size, fmt=fmt, sc=sc, sync=sync, caption=caption)
            )
        return {
            "images": images,
            "timings": {"inference": round(duration, 4)},
            "seed": seed,
            "has_nsfw_concepts": [sc.blocked] * count,
            "prompt": prompt,
        }

    def _upscale(
        self, spec: Endpoint, args: dict[str, Any], sc: Scenarios, duration: float, fetched: Fetched
    ) -> dict[str, Any]:
        source = self.load(args, "image_url", fetched)
        if spec.id.startswith("fal-ai/recraft") and source.format != "PNG":
            # fal documents PNG input for Recraft's upscalers; what it answers otherwise is
            # [uncertain]: we refuse the input as an image fal cannot load.
            raise validation_error(
                "image_url",
                "The image must be in PNG format.",
                "image_load_error",
                args["image_url"][:64],
                ctx={"reason": f"got {source.format or 'unknown'}"},
            )
        factor = spec.default_factor
        if spec.factor_arg is not None:
            factor = fa.float_arg(args, spec.factor_arg, spec.default_factor, 0.1, 8.0)
        fmt = fa.output_format(args, "png")
        size = media.capped(round(source.width * factor), round(source.height * factor))
        out = None if self.app.server.plain_images else media.scale(source, factor)
        key = f"{spec.id}|{str(args.get('image_url', ''))[:200]}|{factor}"
        sync = bool(args.get("sync_mode"))
        image = self.image(out, key=key, size=size, fmt=fmt, sc=sc, sync=sync)
        body: dict[str, Any] = {"images": [image]} if spec.many else {"image": image}
        if "seed" in spec.output_keys:
            body["seed"] = fa.seed(args, spec.id)
        if "timings" in spec.output_keys:
            body["timings"] = {"inference": round(duration, 4)}
        return body

    def _bria_expand(self, args: dict[str, Any], sc: Scenarios, fetched: Fetched) -> dict[str, Any]:
        source = self.load(args, "image_url", fetched)
        w, h = source.size
        ratio = args.get("aspect_ratio")
        if isinstance(ratio, str) and ratio:
            rw, rh = (int(x) for x in ratio.split(":"))  # validated against the table
            canvas = (round(h * rw / rh), h) if w * rh < h * rw else (w, round(w * rh / rw))
            size, location = (w, h), ((canvas[0] - w) // 2, (canvas[1] - h) // 2)
        else:
            canvas = fa.pair(args, "canvas_size", None, 1, 5000)
            size = fa.pair(args, "original_image_size", (w, h), 1, 5000)
            default_loc = ((canvas[0] - size[0]) // 2, (canvas[1] - size[1]) // 2)
            location = fa.pair(args, "original_image_location", default_loc, -5000, 5000)
        seed = fa.seed(args, "fal-ai/bria/expand")
        key = f"bria/expand|{args.get('prompt', '')}|{seed}"
        draw = not (sc.blocked or self.app.server.plain_images)
        img = media.expand_canvas(source, canvas, size, location, key) if draw else None
        sync = bool(args.get("sync_mode"))
        caption = media.Caption(strip_scenarios(str(args.get("prompt") or "")), seed)
        image = self.image(img, key=key, size=canvas, fmt="png", sc=sc, sync=sync, caption=caption)
        return {"image": image, "seed": seed}

    def _bria_genfill(
        self, args: dict[str, Any], sc: Scenarios, fetched: Fetched
    ) -> dict[str, Any]:
        source = self.load(args, "image_url", fetched)
        mask = self.load(args, "mask_url", fetched)
        prompt = str(args["prompt"])
        seed = fa.seed(args, "fal-ai/bria/genfill")
        count = fa.int_arg(args, "num_images", 1, 1, 4)
        draw = not (sc.blocked or self.app.server.plain_images)
        images = []
        for i in range(count):
            key = f"bria/genfill|{prompt}|{seed + i}"
            img = media.fill_masked(source, mask, key) if draw else None
            sync = bool(args.get("sync_mode"))
            caption = media.Caption(strip_scenarios(prompt), seed + i)
            images.append(
                self.image(
                    img, key=key, size=source.size, fmt="png", sc=sc, sync=sync, caption=caption
                )
            )
        return {"images": images, "seed": seed}
