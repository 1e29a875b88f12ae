"""Chutes emulator: the gateway's host routing as path routing, with real image and MP4 outputs.

Mounted at ``/chutes``; ``https://{slug}.chutes.ai/{path}`` becomes ``<root>/chutes/{slug}/{path}``
(``TWAT_GENAI_CHUTES_BASE_URL=<root>/chutes``). Wire facts follow PROTOCOLS.md §4 (gateway code
of chutesai/chutes-api); where that file marks a fact uncertain, a comment says so.

Cords (all ``POST``, flat JSON, ``Authorization: Bearer <key>``):

- ``image/generate``: the router, keyed by body ``model``; gateway validation (unknown fields →
  400 ``bad request, naughty naughty``, steps silently clamped to 50) → ``image/jpeg`` bytes.
- ``chutes-hidream/generate`` → PNG of ``resolution``; ``chutes-hidream-edit/generate`` → PNG
  of the input's size; ``desudesuka-rembg/remove`` → JSON ``{"image": <base64 RGBA PNG>}``.
- ``kikakkz-skyreels-v2-14b-540p/text2video|image2video``, ``kikakkz-wan2-1-14b-flf2v/flf2video``
  → a tiny, playable MP4 (MJPEG in MP4, muxed here: no ffmpeg needed), built once and cached.

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
from .host import Host
from .http import EmulatorRequest, EmulatorResponse, json_response
from .scenarios import Scenarios, scenarios_in

#: Models the ``image.chutes.ai`` router knows (any case-sensitive match; PROTOCOLS §4.1).
KNOWN_MODELS = frozenset(
    {
        "FLUX.1-dev",
        "FLUX.1-schnell",
        "JuggernautXL",
        "qwen-image",
        "neta-lumina",
        "hidream",
        "HiDream-I1-Full",
        "chroma",
    }
)
HIDREAM_RESOLUTIONS = (
    "1024x1024",
    "768x1360",
    "1360x768",
    "880x1168",
    "1168x880",
    "1248x832",
    "832x1248",
)
SKYREELS_RESOLUTIONS = {"540P": (960, 544), "720P": (1280, 720)}
FLF2V_RESOLUTIONS = ("1280*720", "720*1280", "832*480", "480*832", "1024*1024")
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

# --------------------------------------------------------------------------- validation

Validator = Callable[[Any], bool]


def _int(lo: int, hi: int | None = None) -> Validator:
    return lambda v: (
        isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
    )


def _num(lo: float, hi: float | None = None) -> Validator:
    return lambda v: (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and v >= lo
        and (hi is None or v <= hi)
    )


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _one_of(*values: str) -> Validator:
    return lambda v: v in values


def _optional(check: Validator) -> Validator:
    return lambda v: v is None or check(v)


_SEED = _optional(_int(0, 2**32 - 1))

#: The gateway's ``DiffusionInput`` (``extra="forbid"``).
DIFFUSION_FIELDS: dict[str, Validator] = {
    "prompt": _str,
    "negative_prompt": _optional(_str),
    "width": _int(128, 2048),
    "height": _int(128, 2048),
    "num_inference_steps": _int(1, 50),
    "guidance_scale": _num(1, 20),
    "seed": _SEED,
    "img_guidance_scale": _num(1, 20),
    "image_b64": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}
HIDREAM_FIELDS: dict[str, Validator] = {
    "prompt": _str,
    "resolution": _one_of(*HIDREAM_RESOLUTIONS),
    # [uncertain] one third-party reference sends width/height instead of resolution.
    "width": _int(256, 2560),
    "height": _int(256, 2560),
    "guidance_scale": _num(0, 20),
    "num_inference_steps": _int(1, 75),
    "seed": _SEED,
}
HIDREAM_EDIT_FIELDS: dict[str, Validator] = {
    "prompt": _str,
    "image_b64": _str,
    "negative_prompt": _optional(_str),
    "guidance_scale": _num(0, 20),
    "image_guidance_scale": _num(0, 20),
    "num_inference_steps": _int(1, 75),
    "seed": _SEED,
}
REMBG_FIELDS: dict[str, Validator] = {"image_b64": _str}
SKYREELS_FIELDS: dict[str, Validator] = {
    "prompt": _str,
    "negative_prompt": _optional(_str),
    "resolution": _one_of(*SKYREELS_RESOLUTIONS),
    "fps": _int(1, 60),
    "num_frames": _int(1),
    "guidance_scale": _num(0, 20),
    "inference_steps": _int(1, 100),
    "shift": _num(0),
    "seed": _SEED,
}
FLF2V_FIELDS: dict[str, Validator] = {
    "prompt": _str,
    "negative_prompt": _optional(_str),
    "first_image_b64": _str,
    "last_image_b64": _str,
    "resolution": _one_of(*FLF2V_RESOLUTIONS),
    "fps": _int(1, 60),
    "frames": lambda v: _int(5)(v) and (v - 1) % 4 == 0,
    "guidance_scale": _num(0, 20),
    "steps": _int(1, 100),
    "seed": _SEED,
}


class ChuteError(Exception):
    """An answer other than the output: FastAPI ``{"detail": ...}`` with a status."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.detail = status, detail

    def response(self) -> EmulatorResponse:
        return json_response({"detail": self.detail}, self.status)


def _validate(
    args: dict[str, Any], fields: dict[str, Validator], required: tuple[str, ...], detail: str
) -> None:
    bad = [k for k in args if k not in fields or not fields[k](args[k])]
    missing = [k for k in required if k not in args]
    if bad or missing:
        raise ChuteError(400, detail)


def _decode_image(value: Any) -> Image.Image:
    """An input image given as raw base64 (a data URI is tolerated)."""
    if not isinstance(value, str):
        raise ChuteError(400, "Invalid image input! Expected a base64 string.")
    payload = value.partition(",")[2] if value.startswith("data:") else value
    try:
        return media.decode(base64.b64decode(payload, validate=True))
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
            "chutes-hidream-edit": {"/generate": self._hidream_edit},
            "desudesuka-rembg": {"/remove": self._rembg},
            "kikakkz-skyreels-v2-14b-540p": {
                "/text2video": self._skyreels,
                "/image2video": self._skyreels,
            },
            "kikakkz-wan2-1-14b-flf2v": {"/flf2video": self._flf2v},
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
        try:
            fault = self._scenario(slug, args, scenarios_in(args))
            if fault is not None:
                return fault
            self.count("submissions")
            response = await handler(req, dict(args))
        except ChuteError as err:
            return err.response()
        self.count("results")
        response.headers.append(("X-Chutes-InvocationID", str(uuid.uuid4())))
        return response

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

    async def _work(self, args: dict[str, Any]) -> None:
        """Simulated processing time: ``[emulate:slow=S]`` or the latency."""
        slow = scenarios_in(args).slow
        delay = self.latency if slow is None else slow
        if delay > 0:
            await asyncio.sleep(delay)

    # -- cords

    async def _image(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        if isinstance(args.get("input_args"), dict):
            # [uncertain] some clients wrap the body; the 2025-10 gateway does not unwrap it.
            args = {"model": args.get("model"), **args["input_args"]}
            req.note = "unwrapped input_args"
        model = args.pop("model", None)
        for key in ("cord", "method"):
            args.pop(key, None)
        if model not in KNOWN_MODELS:
            raise ChuteError(404, f"model not found: {model}")
        req.endpoint = f"image/generate:{model}"
        steps = args.get("num_inference_steps")
        if isinstance(steps, int) and not isinstance(steps, bool) and steps > 50:
            args["num_inference_steps"] = 50  # the gateway clamps silently
        _validate(args, DIFFUSION_FIELDS, ("prompt",), "bad request, naughty naughty")
        width, height = args.get("width", 1024), args.get("height", 1024)
        await self._work(args)
        key = f"{model}|{args['prompt']}|{args.get('seed')}|{args.get('negative_prompt')}"
        data = await asyncio.to_thread(
            media.render, key, width, height, "jpeg", plain=self.server.plain_images
        )
        name = f"{uuid.uuid4()}.jpg"
        return EmulatorResponse.raw(
            data, "image/jpeg", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def _hidream(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        _validate(args, HIDREAM_FIELDS, ("prompt",), "Invalid input parameters")
        if "resolution" in args:
            width, height = (int(v) for v in args["resolution"].split("x"))
        else:
            width, height = args.get("width", 1024), args.get("height", 1024)
        await self._work(args)
        key = f"hidream|{args['prompt']}|{args.get('seed')}"
        data = await asyncio.to_thread(
            media.render, key, width, height, "png", plain=self.server.plain_images
        )
        return EmulatorResponse.raw(data, "image/png")

    async def _hidream_edit(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        _validate(args, HIDREAM_EDIT_FIELDS, ("prompt", "image_b64"), "Invalid input parameters")
        source = _decode_image(args["image_b64"])
        await self._work(args)
        key = f"hidream-edit|{args['prompt']}|{args.get('seed')}"
        data = await asyncio.to_thread(lambda: media.encode(media.blend(source, key, 0.5), "png"))
        return EmulatorResponse.raw(data, "image/png")

    async def _rembg(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        _validate(args, REMBG_FIELDS, ("image_b64",), "Invalid input parameters")
        source = _decode_image(args["image_b64"])
        await self._work(args)
        data = await asyncio.to_thread(_cut_out, source)
        # [uncertain] the JSON {"image": base64 PNG} shape comes from one third-party client.
        return json_response({"image": base64.b64encode(data).decode("ascii")})

    async def _skyreels(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        image2video = req.path.endswith("/image2video")
        fields = {**SKYREELS_FIELDS, **({"img_b64_first": _str} if image2video else {})}
        required = ("prompt", "img_b64_first") if image2video else ("prompt",)
        _validate(args, fields, required, "Invalid input parameters")
        if image2video:
            frame = _decode_image(args["img_b64_first"])
            req.note = f"first frame {frame.width}x{frame.height}"
        width, height = SKYREELS_RESOLUTIONS[args.get("resolution", "540P")]
        return await self._video(args, width, height)

    async def _flf2v(self, req: EmulatorRequest, args: dict[str, Any]) -> EmulatorResponse:
        required = ("prompt", "first_image_b64", "last_image_b64")
        _validate(args, FLF2V_FIELDS, required, "Invalid input parameters")
        first = _decode_image(args["first_image_b64"])
        last = _decode_image(args["last_image_b64"])
        req.note = f"frames {first.width}x{first.height} and {last.width}x{last.height}"
        width, height = (int(v) for v in args.get("resolution", "832*480").split("*"))
        return await self._video(args, width, height)

    async def _video(self, args: dict[str, Any], width: int, height: int) -> EmulatorResponse:
        await self._work(args)
        data = await asyncio.to_thread(tiny_video, width, height)
        return EmulatorResponse.raw(data, "video/mp4")


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
    "ChuteError",
    "ChutesEmulator",
    "install",
    "mp4_from_jpegs",
    "tiny_video",
]
