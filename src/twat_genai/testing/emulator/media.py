"""Deterministic, cheap media for the emulators: pictures, scaling, edge maps and canvases.

Every emulator answers with real image bytes so that the project's decoding, size checks and
format sniffing are exercised. Pictures are a smooth colour gradient plus a few shapes, both
derived from a hash of the prompt and seed, and a caption (:class:`Caption`) saying they come
from the sandbox, with their prompt, size and seed, so nobody mistakes one for a real result:
the same request always yields the same pixels, and a 1024x768 JPEG costs a few
milliseconds. All functions are blocking Pillow work; call them through
``asyncio.to_thread`` from the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

#: Output format name -> MIME type.
CONTENT_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}

#: Longest side an emulator produces; keeps upscaler outputs cheap.
MAX_SIDE = 4096


class MediaError(ValueError):
    """Bytes that are not an image Pillow can open."""


def content_type_for(fmt: str) -> str:
    """MIME type for an output format name (``jpeg``, ``png``, ``webp``)."""
    return CONTENT_TYPES.get(fmt.lower(), "application/octet-stream")


def extension_for(content_type: str) -> str:
    """File extension for a MIME type (``bin`` when unknown)."""
    return {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/webp": "webp",
        "video/mp4": "mp4",
        "application/json": "json",
        "text/plain": "txt",
    }.get(content_type.split(";", maxsplit=1)[0].strip().lower(), "bin")


def sniff_content_type(data: bytes) -> str:
    """MIME type from magic bytes, so stored uploads are served with a truthful type."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def picture(key: str, width: int, height: int) -> Image.Image:
    """A deterministic RGB picture for ``key``: a four-corner gradient and three shapes."""
    d = _digest(key)
    corners = Image.new("RGB", (2, 2))
    corners.putdata([(d[i], d[i + 1], d[i + 2]) for i in (0, 3, 6, 9)])
    img = corners.resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for n in range(3):
        b = d[12 + n * 6 : 18 + n * 6]
        x0, y0 = b[0] * width // 320, b[1] * height // 320
        x1 = x0 + max(2, (64 + b[2]) * width // 640)
        y1 = y0 + max(2, (64 + b[3]) * height // 640)
        fill = (b[4], b[5], b[0] ^ b[5])
        if n == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif n == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=fill)
    return img


@dataclass(frozen=True)
class Caption:
    """What a sandbox picture says about itself: its prompt and its seed (``None``: the
    request had none); the size is read from the picture."""

    prompt: str
    seed: object = None

    def lines(self, width: int, height: int) -> tuple[str, str]:
        """The caption's two lines, before shortening."""
        seed = "no seed" if self.seed is None else f"seed {self.seed}"
        prompt = " ".join(self.prompt.split()) or "(no prompt)"
        return f"sandbox · {prompt}", f"{width}x{height} · {seed}"


#: Pictures smaller than this on either side stay uncaptioned (the text would cover them).
CAPTION_MIN_SIZE = (128, 96)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, limit: int) -> str:
    """``text`` shortened with an ellipsis until it is at most ``limit`` pixels wide."""
    if font.getlength(text) <= limit:
        return text
    n = len(text)
    while n > 1 and font.getlength(text[:n] + "…") > limit:
        n -= max(1, n // 8)
    return text[:n].rstrip() + "…"


def captioned(img: Image.Image, caption: Caption | None) -> Image.Image:
    """``img`` with ``caption`` drawn in a dark band along its bottom (in place; returned).

    Deterministic: Pillow's bundled font, no randomness. A picture below
    :data:`CAPTION_MIN_SIZE` is returned as it is.
    """
    width, height = img.size
    if caption is None or width < CAPTION_MIN_SIZE[0] or height < CAPTION_MIN_SIZE[1]:
        return img
    size = max(10, min(width // 40, height // 24, 40))
    font, pad, step = _font(size), max(3, size // 3), round(size * 1.25)
    top = height - 2 * step - 2 * pad
    draw = ImageDraw.Draw(img)
    dark: tuple[int, ...] = (16, 16, 16)
    light: tuple[int, ...] = (245, 245, 245)
    if img.mode == "RGBA":
        dark, light = (*dark, 255), (*light, 255)
    draw.rectangle((0, top, width, height), fill=dark)
    for i, line in enumerate(caption.lines(width, height)):
        draw.text((pad, top + pad + i * step), _fit(line, font, width - 2 * pad), light, font)
    return img


def encode(img: Image.Image, fmt: str = "png") -> bytes:
    """Encode ``img`` as ``fmt`` (JPEG drops alpha; PNG keeps it)."""
    fmt = "jpeg" if fmt.lower() in {"jpg", "jpeg"} else fmt.lower()
    if fmt == "jpeg" and img.mode not in {"RGB", "L"}:
        img = img.convert("RGB")
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, "JPEG", quality=85)
    elif fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    else:
        img.save(buf, fmt.upper())
    return buf.getvalue()


def render(
    key: str,
    width: int,
    height: int,
    fmt: str = "jpeg",
    *,
    blocked: bool = False,
    plain: bool = False,
    caption: Caption | None = None,
) -> bytes:
    """Encoded picture for ``key`` with its ``caption`` (cached: repeated prompts and seeds
    cost nothing).

    ``blocked`` gives the all-black image that fal returns when its safety checker fires;
    ``plain`` one flat grey uncaptioned picture per size and format, whatever the key
    (benchmarks).
    """
    if plain or blocked:
        return flat(width, height, fmt, (0, 0, 0) if blocked else (128, 128, 128))
    return _render(key, width, height, fmt, caption)


@lru_cache(maxsize=256)
def _render(key: str, width: int, height: int, fmt: str, caption: Caption | None) -> bytes:
    return encode(captioned(picture(key, width, height), caption), fmt)


@lru_cache(maxsize=64)
def flat(width: int, height: int, fmt: str, color: tuple[int, int, int]) -> bytes:
    """One encoded single-colour picture per size, format and colour (cached)."""
    return encode(Image.new("RGB", (width, height), color), fmt)


def decode(data: bytes) -> Image.Image:
    """Open image bytes fully (so errors surface here), or raise :class:`MediaError`."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:
        raise MediaError(f"cannot decode image: {exc}") from exc
    return img


def decode_data_uri(uri: str) -> tuple[bytes, str]:
    """Bytes and MIME type of a ``data:`` URI (base64 or percent-encoded)."""
    from urllib.parse import unquote_to_bytes

    header, sep, payload = uri.partition(",")
    if not uri.startswith("data:") or not sep:
        raise MediaError("malformed data URI")
    meta = header[5:].split(";")
    mime = meta[0] or "text/plain"
    if "base64" in meta[1:]:
        try:
            return base64.b64decode(payload, validate=False), mime
        except (binascii.Error, ValueError) as exc:
            raise MediaError(f"bad base64 in data URI: {exc}") from exc
    return unquote_to_bytes(payload), mime


def data_uri(data: bytes, content_type: str) -> str:
    """``data:`` URI for bytes (fal's ``sync_mode`` answers)."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def capped(width: int, height: int, cap: int = MAX_SIDE) -> tuple[int, int]:
    """``(width, height)`` shrunk to fit ``cap`` on the long side, aspect kept."""
    long_side = max(width, height)
    if long_side <= cap:
        return max(1, width), max(1, height)
    return max(1, round(width * cap / long_side)), max(1, round(height * cap / long_side))


def scale(img: Image.Image, factor: float, cap: int = MAX_SIDE) -> Image.Image:
    """``img`` scaled by ``factor`` (bicubic), capped at ``cap`` on the long side."""
    size = capped(round(img.width * factor), round(img.height * factor), cap)
    return img.convert("RGB").resize(size, Image.Resampling.BICUBIC)


def fit(img: Image.Image, width: int, height: int) -> Image.Image:
    """``img`` as RGB resized to exactly ``width`` x ``height`` (no-op when already that size)."""
    img = img.convert("RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    return img


def edges(img: Image.Image) -> Image.Image:
    """Edge map of ``img`` as RGB: what a Canny-conditioned endpoint would be steered by."""
    gray = ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES)
    return ImageOps.autocontrast(gray).convert("RGB")


def depth_like(img: Image.Image) -> Image.Image:
    """A blurred grey version of ``img``: a stand-in for a depth map."""
    return ImageOps.grayscale(img).filter(ImageFilter.BoxBlur(4)).convert("RGB")


def blend(base: Image.Image, key: str, amount: float) -> Image.Image:
    """Mix ``base`` with the picture for ``key``; ``amount`` 0 keeps ``base``, 1 replaces it."""
    base = base.convert("RGB")
    amount = min(1.0, max(0.0, amount))
    return Image.blend(base, picture(key, base.width, base.height), amount)


def expand_canvas(
    img: Image.Image,
    canvas: tuple[int, int],
    size: tuple[int, int],
    location: tuple[int, int],
    key: str,
) -> Image.Image:
    """``img`` resized to ``size`` and pasted at ``location`` on a generated ``canvas``."""
    out = picture(key, *canvas)
    out.paste(fit(img, *size), location)
    return out


def fill_masked(img: Image.Image, mask: Image.Image, key: str) -> Image.Image:
    """``img`` with the white parts of ``mask`` replaced by the picture for ``key``."""
    base = img.convert("RGB")
    m = ImageOps.grayscale(mask)
    if m.size != base.size:
        m = m.resize(base.size, Image.Resampling.NEAREST)
    return Image.composite(picture(key, *base.size), base, m)
