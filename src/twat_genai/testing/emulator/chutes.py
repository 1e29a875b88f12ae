"""Chutes emulator: the gateway's host routing as path routing, with real image and MP4 outputs.

Mounted at ``/chutes``; ``https://{slug}.chutes.ai/{path}`` becomes ``<root>/chutes/{slug}/{path}``
(``TWAT_GENAI_CHUTES_BASE_URL=<root>/chutes``). Wire facts follow PROTOCOLS.md §4 (gateway code
of chutesai/chutes-api); where that file marks a fact uncertain, a comment says so.

Cords (all ``POST``, flat JSON, ``Authorization: Bearer <key>``), each checked against its
published schema (:mod:`.chutes_schemas`: the router's unknown fields are 400 ``bad request,
naughty naughty``, any chute's out-of-range value 400 ``Invalid input parameters``):

- ``image/generate``: the router, keyed by body ``model`` (steps silently capped at 50 by the
  gateway) → ``image/jpeg`` bytes.
- ``chutes-hidream/generate`` and ``kikakkz-hidream-i1-full/generate`` → PNG;
  ``chutes-hidream-edit/generate`` (PNG) and ``chutes-qwen-image-edit/generate`` (JPEG) of the
  input's size; ``desudesuka-rembg/remove`` → JSON ``{"image": <base64 RGBA PNG>}``.
- ``kikakkz-skyreels-v2-14b-540p/text2video|image2video``, ``kikakkz-wan2-1-14b-flf2v/flf2video``,
  ``chutes-wan2-1-14b/text2video`` → a tiny, playable MP4 (MJPEG in MP4, muxed here: no ffmpeg
  needed), built once and cached.

Scenarios (``[emulate:...]`` in the prompt, see :mod:`.scenarios`): ``error=CODE`` (Chutes'
``detail`` for that code), ``slow=S``, ``blocked`` (400 safety detail), ``ratelimit`` (429
``infra_overload`` once), ``coldstart`` (503 ``No instances available`` once per prompt).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
import struct
import uuid
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from PIL import Image, ImageChops, ImageDraw

from . import media
from .app import EmulatorApp
from .chutes_schemas import (
    FLF2V,
    GATEWAY_STEP_CAP,
    HIDREAM,
    HIDREAM_EDIT,
    HIDREAM_FULL,
    INVALID,
    NAUGHTY,
    QWEN_EDIT,
    REMBG,
    ROUTER_MODELS,
    SKYREELS_I2V,
    SKYREELS_RESOLUTIONS,
    SKYREELS_T2V,
    WAN_T2V,
    Schema,
    as_int,
    integer,
)
from .faults import drip
from .host import Host
from .http import EmulatorRequest, EmulatorResponse, json_response
from .scenarios import Scenarios, scenarios_in, strip_scenarios

#: Models the ``image.chutes.ai`` router serves.
KNOWN_MODELS = frozenset(ROUTER_MODELS)
DUMMY_KEY = (
    "cpk_"
    + "0123456789abcdef" * 2
    + "."
    + "fedcba9876543210" * 2
    + ".EmulatorDummyChutesKeyNotSecret0"
)
_KEY_RE = re.compile(r"^cpk_[a-f0-9]{32}\.[a-f0-9]{32}\.[a-zA-Z0-9]{32}$")

#: Emulated clips: frames, frame rate and long side (real clips are 97 frames at 960x544).
VIDEO_FRAMES, VIDEO_FPS, VIDEO_SIDE = 8, 8, 128

_ERRORS: dict[int, Any] = {
    400: "bad request, naughty naughty",
    401: "Authentication required.",
    402: {
        "message": "Quota exceeded and account balance is $0.0, please pay with fiat or send tao "
        "to the address on your account page",
        "quota_reset_timestamp": "2030-01-01T00:00:00+00:00",
    },
    403: "Forbidden",
    404: "No matching chute found!",
    429: "infra_overload",
    500: "No result returned from upstream",
    503: "No instances available (yet) for chute_id={chute_id}",
}


class ChuteError(Exception):
    """An answer other than the output: FastAPI ``{"detail": ...}`` with a status."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.detail = status, detail

    def response(self) -> EmulatorResponse:
        return json_response({"detail": self.detail}, self.status)


def _check(req: EmulatorRequest, args: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """``args`` as the chute reads them (see :mod:`.chutes_schemas`), else its 400."""
    unknown, bad = schema.problems(args)
    if unknown and schema.extra_forbidden:
        req.note = f"fields the router refuses: {', '.join(sorted(unknown))}"
        raise ChuteError(400, NAUGHTY)
    if bad:
        req.note = f"invalid or missing: {', '.join(sorted(bad))}"
        raise ChuteError(400, INVALID)
    req.ignored = unknown
    return {k: v for k, v in args.items() if k in schema.fields}


def _decode_image(value: Any) -> Image.Image:
    """An input image given as raw base64, as the chutes document it (a data URI is not
    base64: Wan answers such input with this 400)."""
    if not isinstance(value, str):
        raise ChuteError(400, "Invalid image input! Expected a base64 string.")
    try:
        return media.decode(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ChuteError(400, f"Invalid image input! {exc}") from None


# --------------------------------------------------------------------------- MP4


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def _descriptor(tag: int, payload: bytes) -> bytes:
    return bytes([tag, len(payload)]) + payload


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4_from_jpegs(frames: list[bytes], width: int, height: int, fps: int) -> bytes:
    """A minimal ISO BMFF file: one MJPEG video track (``mp4v`` entry, ``esds`` object type
    0x6C = JPEG, as ffmpeg's muxer writes it), ``moov`` before ``mdat`` (fast start)."""
    n = len(frames)
    movie_ms = n * 1000 // fps
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"mp41")
    esds = _full_box(
        b"esds",
        0,
        0,
        _descriptor(
            0x03,
            struct.pack(">HB", 1, 0)
            + _descriptor(0x04, bytes([0x6C, 0x11]) + b"\0\0\0" + struct.pack(">II", 0, 0))
            + _descriptor(0x06, b"\x02"),
        ),
    )
    sample_entry = _box(
        b"mp4v",
        b"\0" * 6,
        struct.pack(">HHH", 1, 0, 0),
        b"\0" * 12,
        struct.pack(">HHIII", width, height, 0x480000, 0x480000, 0),
        struct.pack(">H", 1),
        bytes([4]) + b"JPEG".ljust(31, b"\0"),
        struct.pack(">Hh", 0x18, -1),
        esds,
    )

    def moov(chunk_offset: int) -> bytes:
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, n, 1)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, n, 1)),
            _full_box(
                b"stsz",
                0,
                0,
                struct.pack(">II", 0, n),
                *(struct.pack(">I", len(f)) for f in frames),
            ),
            _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )
        dinf = _box(
            b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))
        )
        minf = _box(b"minf", _full_box(b"vmhd", 0, 1, b"\0" * 8), dinf, stbl)
        mdia = _box(
            b"mdia",
            _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, fps, n, 0x55C4, 0)),
            _full_box(b"hdlr", 0, 0, b"\0" * 4, b"vide", b"\0" * 12, b"VideoHandler\0"),
            minf,
        )
        tkhd = _full_box(
            b"tkhd",
            0,
            3,
            struct.pack(">IIIII", 0, 0, 1, 0, movie_ms),
            b"\0" * 8,
            struct.pack(">HHHH", 0, 0, 0, 0),
            _MATRIX,
            struct.pack(">II", width << 16, height << 16),
        )
        mvhd = _full_box(
            b"mvhd",
            0,
            0,
            struct.pack(">IIIIIH", 0, 0, 1000, movie_ms, 0x10000, 0x100),
            b"\0" * 10,
            _MATRIX,
            b"\0" * 24,
            struct.pack(">I", 2),
        )
        return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))

    size = len(moov(0))
    return ftyp + moov(len(ftyp) + size + 8) + _box(b"mdat", *frames)


@lru_cache(maxsize=16)
def tiny_video(width: int, height: int, frames: int = VIDEO_FRAMES, fps: int = VIDEO_FPS) -> bytes:
    """A short clip of a moving picture, aspect of ``width``x``height``, long side VIDEO_SIDE."""
    scale = VIDEO_SIDE / max(width, height)
    w, h = (max(16, round(v * scale / 2) * 2) for v in (width, height))
    base = media.picture(f"video:{width}x{height}", w, h)
    jpegs = []
    for i in range(frames):
        frame = ImageChops.offset(base, i * w // frames, 0)
        jpegs.append(media.encode(frame, "jpeg"))
    return mp4_from_jpegs(jpegs, w, h, fps)


# --------------------------------------------------------------------------- the app

Handler = Callable[[EmulatorRequest, dict[str, Any]], Awaitable[EmulatorResponse]]


class ChutesEmulator(EmulatorApp):
    """The Chutes gateway and a few chutes (mount at ``/chutes``; :func:`install` does)."""

    name = "chutes"

    def __init__(self, *, latency: float | None = None) -> None:
        super().__init__(latency=latency)
        self.cords: dict[str, dict[str, Handler]] = {
            "image": {"/generate": self._image},
            "chutes-hidream": {"/generate": self._hidream},
            "kikakkz-hidream-i1-full": {"/generate": self._hidream},
            "chutes-hidream-edit": {"/generate": self._edit},
            "chutes-qwen-image-edit": {"/generate": self._edit},
            "desudesuka-rembg": {"/remove": self._rembg},
            "kikakkz-skyreels-v2-14b-540p": {
                "/text2video": self._skyreels,
                "/image2video": self._skyreels,
            },
            "kikakkz-wan2-1-14b-flf2v": {"/flf2video": self._flf2v},
            "chutes-wan2-1-14b": {"/text2video": self._wan_t2v},
        }

    def env(self, root: str) -> dict[str, str]:
        """Point the project's Chutes provider at this app (with a dummy, well-formed key)."""
        return {"TWAT_GENAI_CHUTES_BASE_URL": f"{root}{self.prefix}", "CHUTES_API_KEY": DUMMY_KEY}

    def not_found(self, req: EmulatorRequest) -> EmulatorResponse:
        return json_response({"detail": "No matching chute found!"}, 404)

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """Route ``/{slug}/{path}`` as the gateway routes ``{slug}.chutes.ai/{path}``."""
        slug, _, rest = req.path.strip("/").partition("/")
        cords = self.cords.get(slug)
        if cords is None:
            return self.not_found(req)
        handler = cords.get("/" + rest)
        req.endpoint = f"{slug}/{rest}"
        if handler is None or req.method != "POST":
            return json_response({"detail": "No matching cord found!"}, 404)
        denied = _auth_error(req)
        if denied is not None:
            return denied
        try:
            args = req.json()
        except ValueError as exc:
            return json_response({"detail": f"invalid request JSON payload: {exc}"}, 400)
        if not isinstance(args, dict):
            return json_response({"detail": "invalid request JSON payload: not an object"}, 400)
        sc = scenarios_in(args)
        try:
            fault = self._scenario(slug, args, sc)
            if fault is not None:
                return fault
            response = await handler(req, dict(args))
        except ChuteError as err:
            return err.response()
        self.count("results")
        response.headers.append(("X-Chutes-InvocationID", str(uuid.uuid4())))
        return response.streamed(drip(response.body)) if sc.drip else response

    def fault_response(self, kind: str, path: str) -> EmulatorResponse:
        """Injected faults in the gateway's words: 429 ``infra_overload``, 503 ``No instances
        available`` (a cold chute); neither created a job."""
        return _error(429 if kind == "429" else 503, path.strip("/").partition("/")[0])

    def _scenario(self, slug: str, args: dict[str, Any], sc: Scenarios) -> EmulatorResponse | None:
        prompt = str(args.get("prompt"))
        if "coldstart" in sc.unknown and self.first_time("coldstart", slug, prompt):
            self.count("cold_starts")
            return _error(503, slug)
        if sc.ratelimit and self.first_time("ratelimit", slug, prompt):
            return _error(429, slug)
        if sc.error:
            return _error(sc.error, slug)
        if sc.blocked:
            # [uncertain] Chutes has no documented safety envelope; chutes raise a 400 detail.
            return json_response(
                {"detail": "Prompt flagged by the safety checker (NSFW content); not generated"},
                400,
            )
        return None

    async def _work(self, req: EmulatorRequest, args: dict[str, Any]) -> None:
        """The input passed the chute's checks: the job counts, then takes its time
        (``[emulate:slow=S]``, ``[emulate:stuck]`` or the latency)."""
        await self.run_job(req, scenarios_in(args))

    # -- cords

    async def _image(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        if isinstance(args.get("input_args"), dict):
            # [uncertain] the published schemas wrap the body; the 2025-10 gateway does not
            # unwrap it, so both shapes are read.
            args = {"model": args.get("model"), **args["input_args"]}
            req.note = "unwrapped input_args"
        model = args.pop("model", None)
        for key in ("cord", "method"):
            args.pop(key, None)
        schema = ROUTER_MODELS.get(model) if isinstance(model, str) else None
        if schema is None:
            raise ChuteError(404, f"model not found: {model}")
        req.endpoint = f"image/generate:{model}"
        steps = args.get("num_inference_steps")
        if schema.fields.get("num_inference_steps") and integer(GATEWAY_STEP_CAP + 1)(steps):
            args["num_inference_steps"] = GATEWAY_STEP_CAP  # the gateway caps silently
        args = _check(req, args, schema)
        width = as_int(args.get("width"), 1024)
        height = as_int(args.get("height"), 1024)
        await self._work(req, args)
        key = f"{model}|{args['prompt']}|{args.get('seed')}|{args.get('negative_prompt')}"
        data = await asyncio.to_thread(
            media.render,
            key,
            width,
            height,
            "jpeg",
            plain=self.server.plain_images,
            caption=_caption(args),
        )
        name = f"{uuid.uuid4()}.jpg"
        return EmulatorResponse.raw(
            data, "image/jpeg", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def _hidream(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        full = req.path.strip("/").startswith("kikakkz-")
        args = _check(req, args, HIDREAM_FULL if full else HIDREAM)
        if "resolution" in args:
            width, height = (int(v) for v in args["resolution"].split("x"))
        else:
            default = 512 if full else 1024
            width = as_int(args.get("width"), default)
            height = as_int(args.get("height"), default)
        await self._work(req, args)
        key = f"hidream|{args['prompt']}|{args.get('seed')}"
        data = await asyncio.to_thread(
            media.render,
            key,
            width,
            height,
            "png",
            plain=self.server.plain_images,
            caption=_caption(args),
        )
        return EmulatorResponse.raw(data, "image/png")

    async def _edit(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        """HiDream edit (PNG out) and Qwen image edit (JPEG out, its published type)."""
        qwen = req.path.strip("/").startswith("chutes-qwen")
        args = _check(req, args, QWEN_EDIT if qwen else HIDREAM_EDIT)
        source = _decode_image(args["image_b64"])
        await self._work(req, args)
        key = f"{'qwen' if qwen else 'hidream'}-edit|{args['prompt']}|{args.get('seed')}"
        fmt = "jpeg" if qwen else "png"
        caption = _caption(args)
        data = await asyncio.to_thread(
            lambda: media.encode(media.captioned(media.blend(source, key, 0.5), caption), fmt)
        )
        return EmulatorResponse.raw(data, media.content_type_for(fmt))

    async def _rembg(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        args = _check(req, args, REMBG)
        source = _decode_image(args["image_b64"])
        await self._work(req, args)
        data = await asyncio.to_thread(_cut_out, source)
        # [uncertain] the JSON {"image": base64 PNG} shape comes from one third-party client.
        return json_response({"image": base64.b64encode(data).decode("ascii")})

    async def _skyreels(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        image2video = req.path.endswith("/image2video")
        args = _check(req, args, SKYREELS_I2V if image2video else SKYREELS_T2V)
        frames = [k for k in ("img_b64_first", "img_b64_last") if args.get(k) is not None]
        seen = [(k[8:], _decode_image(args[k]).size) for k in frames]
        if seen:
            req.note = ", ".join(f"{which} frame {w}x{h}" for which, (w, h) in seen)
        width, height = SKYREELS_RESOLUTIONS[args.get("resolution", "540P")]
        return await self._video(req, args, width, height)

    async def _flf2v(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        args = _check(req, args, FLF2V)
        first = _decode_image(args["first_image_b64"])
        last = _decode_image(args["last_image_b64"])
        req.note = f"frames {first.width}x{first.height} and {last.width}x{last.height}"
        width, height = (int(v) for v in args.get("resolution", "832*480").split("*"))
        return await self._video(req, args, width, height)

    async def _wan_t2v(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        args = _check(req, args, WAN_T2V)
        width, height = (int(v) for v in args.get("resolution", "832*480").split("*"))
        return await self._video(req, args, width, height)

    async def _video(
        self, req: EmulatorRequest, args: dict[str, Any], width: int, height: int
    ) -> EmulatorResponse:
        await self._work(req, args)
        data = await asyncio.to_thread(tiny_video, width, height)
        return EmulatorResponse.raw(data, "video/mp4")


def _caption(args: dict[str, Any]) -> media.Caption:
    """The caption of a chute's picture (a chute without a seed picks one; we say none)."""
    seed = args.get("seed")
    return media.Caption(strip_scenarios(str(args.get("prompt") or "")), seed)


def _auth_error(req: EmulatorRequest) -> EmulatorResponse | None:
    """The gateway takes the last token of ``Authorization``; ``cpk_`` keys must be well formed,
    anything else is treated as a JWT (three dot-separated parts)."""
    tokens = req.headers.get("authorization", "").split()
    if not tokens:
        return json_response({"detail": "Authentication required."}, 401)
    token = tokens[-1]
    if _KEY_RE.match(token) or (not token.startswith("cpk_") and token.count(".") == 2):
        return None
    return json_response({"detail": "Invalid token or user not found"}, 401)


def _error(code: int, slug: str) -> EmulatorResponse:
    detail = _ERRORS.get(code, f"HTTP {code}")
    if isinstance(detail, str):
        detail = detail.format(chute_id=uuid.uuid5(uuid.NAMESPACE_DNS, slug))
    return json_response({"detail": detail}, code)


def _cut_out(img: Image.Image) -> bytes:
    """RGBA PNG: an ellipse around the centre kept, the rest transparent."""
    rgba = img.convert("RGBA")
    mask = Image.new("L", rgba.size, 0)
    w, h = rgba.size
    ImageDraw.Draw(mask).ellipse((w // 6, h // 6, w - w // 6, h - h // 6), fill=255)
    rgba.putalpha(mask)
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    return buf.getvalue()


def install(server: Host) -> ChutesEmulator:
    """Mount the Chutes emulator at ``/chutes`` (called for the server's default apps)."""
    app = ChutesEmulator()
    server.mount("/chutes", app)
    return app


__all__ = [
    "DUMMY_KEY",
    "KNOWN_MODELS",
    "ROUTER_MODELS",
    "ChuteError",
    "ChutesEmulator",
    "install",
    "mp4_from_jpegs",
    "tiny_video",
]
