"""Pillow helpers: input validation, sniffing, resizing, outpaint masks, metadata embedding.

Everything here is synchronous and CPU-bound; async callers run it in ``asyncio.to_thread``.
Pillow is imported inside the functions that need it so ``import twat_genai`` stays light.

Conventions worth knowing:

* Rectangles follow Pillow's ``ImageDraw.rectangle``: both corner pixels are *inclusive*.
* Chunk-level edits (:func:`embed_parameters`) never re-encode pixels, and never touch a file
  that carries C2PA Content Credentials (that would break the signature).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from twat_genai.core.config import ImageInput

__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_PIXELS",
    "GenfillGeometry",
    "center_location",
    "cover_crop",
    "create_flux_inpainting_assets",
    "create_genfill_border_mask",
    "decode_image",
    "embed_parameters",
    "encode_image",
    "encode_png",
    "extension_for",
    "genfill_geometry",
    "has_content_credentials",
    "load_local_bytes",
    "probe_size",
    "resize_to_max_side",
    "sniff_media_type",
    "to_data_uri",
    "validate_local_input",
]

#: Largest local input accepted (bytes), checked before reading a file into memory.
MAX_INPUT_BYTES = 50 * 1024 * 1024
#: Largest input accepted (pixels): 8192×8192. Bigger is refused as a decompression bomb.
MAX_PIXELS = 8192 * 8192

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_XMP_NS = b"http://ns.adobe.com/xap/1.0/\x00"
_PARAM_KEY = "parameters"

_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/apng": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/jxl": "jxl",
    "image/svg+xml": "svg",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
}


# --------------------------------------------------------------------------- sniffing


#: First atoms of a QuickTime file that does not start with ``ftyp``.
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def sniff_media_type(data: bytes) -> str | None:
    """The media type from magic bytes (providers' ``Content-Type`` headers can be wrong)."""
    head = bytes(data[:64])
    if head.startswith(_PNG_SIG):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "image/jxl"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in bytes(data[:256]) else "video/x-matroska"
    if head.startswith(b"BM") and len(head) >= 26:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF, BigTIFF
        return "image/tiff"
    text = bytes(data[:1024]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in text:  # vector endpoints
        return "image/svg+xml"
    return None


def extension_for(mime: str | None) -> str:
    """File extension (no dot) for a media type; ``bin`` when unknown."""
    if not mime:
        return "bin"
    return _EXTENSIONS.get(mime.split(";", 1)[0].strip().lower(), "bin")


def to_data_uri(data: bytes, mime: str | None = None) -> str:
    """A ``data:`` URI; the type is sniffed when not given."""
    kind = mime or sniff_media_type(data) or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------- decoding


def _label(source: str) -> str:
    return "input image" if source == "input" else f"input image {source!r}"


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def decode_image(data: bytes, *, source: str = "input") -> PILImage.Image:
    """Fully decode ``data``, refusing non-images, oversize data and decompression bombs.

    The pixel count is read from the header before anything is decoded, so a bomb never
    allocates. Pillow's global ``MAX_IMAGE_PIXELS`` is left alone.
    """
    from PIL import Image, UnidentifiedImageError

    label = _label(source)
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{label} is too large ({_mib(len(data))} > {_mib(MAX_INPUT_BYTES)})")
    try:
        header_size: tuple[int, int] | None = _header_size(data)
    except (ValueError, struct.error, IndexError):
        header_size = None
    if header_size is not None:
        _check_pixels(header_size, label)
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise UsageError(f"{label} is refused as a decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, UnidentifiedImageError) or "cannot identify" in reason:
            reason = "unknown format"
        raise UsageError(f"{label} is not a decodable image ({reason})") from None
    try:
        _check_pixels(img.size, label)
        img.load()
    except UsageError:
        img.close()
        raise
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, MemoryError) as exc:
        img.close()
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(f"{label} is not a decodable image ({reason})") from None
    return img


def _check_pixels(size: tuple[int, int], label: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise UsageError(f"{label} is not a decodable image (size {w}x{h})")
    if w * h > MAX_PIXELS:
        raise UsageError(
            f"{label} is refused as a decompression bomb ({w}x{h} = {w * h:,} pixels "
            f"> {MAX_PIXELS:,})"
        )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Dimensions from the header of PNG, JPEG, GIF, WebP and BMP; None for other formats."""
    mime = sniff_media_type(data)
    if mime == "image/png":
        if data[12:16] != b"IHDR":
            raise ValueError("PNG without IHDR")
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if mime == "image/gif":
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if mime == "image/bmp":
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    if mime == "image/webp":
        return _webp_size(data)
    if mime == "image/jpeg":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int]:
    fourcc = data[12:16]
    if fourcc == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if fourcc == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("bad VP8 start code")
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    if fourcc == b"VP8L":
        if data[20] != 0x2F:
            raise ValueError("bad VP8L signature")
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ValueError("unknown WebP chunk")


_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start of marker, end of segment) for each header segment up to SOS."""
    out: list[tuple[int, int, int]] = []
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise ValueError("bad JPEG marker")
        start = pos
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            break
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out.append((marker, start, pos))
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise ValueError("truncated JPEG segment")
        end = pos + length
        out.append((marker, start, end))
        if marker == 0xDA:
            break
        pos = end
    return out


def _jpeg_size(data: bytes) -> tuple[int, int]:
    for marker, start, _end in _jpeg_segments(data):
        if marker in _SOF_MARKERS:
            # FF Cx, length(2), precision(1), height(2), width(2)
            h, w = struct.unpack(">HH", data[start + 5 : start + 9])
            return int(w), int(h)
    raise ValueError("JPEG without a frame header")


def probe_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone: no pixel decode, safe on bombs."""
    try:
        size = _header_size(data)
    except (ValueError, struct.error, IndexError) as exc:
        raise UsageError(f"image header is not readable ({exc})") from None
    if size is not None:
        return size
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            return int(w), int(h)
    except Image.DecompressionBombError as exc:
        raise UsageError(f"image is refused as a decompression bomb ({exc})") from None
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise UsageError(f"not a recognised image ({' '.join(str(exc).split())})") from None


# --------------------------------------------------------------------------- local inputs


def _decode_data_uri(uri: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep:
        raise UsageError("input image data: URI has no ',' separator")
    if len(payload) > MAX_INPUT_BYTES * 4 // 3 + 16:
        raise UsageError(f"input image data: URI is too large (> {_mib(MAX_INPUT_BYTES)})")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError(f"input image data: URI is not valid base64 ({exc})") from None
    return unquote_to_bytes(payload)


def load_local_bytes(inp: ImageInput) -> bytes:
    """The bytes of a local input: path, ``data:`` URI, raw bytes or PIL image (as PNG).

    http(s) URLs are the transport layer's job (timeouts, size cap) and raise ValueError here.
    """
    if inp.pil_image is not None:
        return encode_png(inp.pil_image)
    if inp.data is not None:
        data = bytes(inp.data)
    elif inp.url is not None:
        if not inp.url.startswith("data:"):
            raise ValueError(
                f"load_local_bytes does not fetch http(s) URLs ({inp.url[:60]!r}); "
                "the transport layer downloads remote inputs"
            )
        data = _decode_data_uri(inp.url)
    elif inp.path is not None:
        data = _read_path(Path(inp.path))
    else:  # pragma: no cover - ImageInput guarantees one source
        raise UsageError("input image has no source")
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(
            f"{_label(inp.describe())} is too large ({_mib(len(data))} > {_mib(MAX_INPUT_BYTES)})"
        )
    if not data:
        raise UsageError(f"{_label(inp.describe())} is empty")
    return data


def _read_path(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"input image not found: {path}") from None
    except OSError as exc:
        raise UsageError(f"input image cannot be read: {path} ({exc.strerror})") from None
    if not path.is_file():
        raise UsageError(f"input image is not a file: {path}")
    if st.st_size > MAX_INPUT_BYTES:
        raise UsageError(
            f"input image {str(path)!r} is too large ({_mib(st.st_size)} > {_mib(MAX_INPUT_BYTES)})"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"input image cannot be read: {path} ({exc.strerror})") from None


def validate_local_input(inp: ImageInput) -> tuple[bytes, str, tuple[int, int]]:
    """Pre-flight check before any request: (bytes, media type, (width, height)).

    Loads and fully decodes the image so a broken file fails here, not at the provider.
    """
    from PIL import Image

    data = load_local_bytes(inp)
    img = decode_image(data, source=inp.describe())
    try:
        size = img.size
        mime = sniff_media_type(data) or Image.MIME.get(img.format or "", "") or "image/png"
    finally:
        img.close()
    return data, mime, size


# --------------------------------------------------------------------------- encoding


_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


def encode_png(img: PILImage.Image) -> bytes:
    """Lossless PNG, keeping alpha and palettes (never JPEG for RGBA or palette images)."""
    if img.mode not in _PNG_MODES:
        has_alpha = "A" in img.mode or "a" in img.mode
        img = img.convert("RGBA" if has_alpha else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _flatten_on_white(img: PILImage.Image) -> PILImage.Image:
    from PIL import Image

    if img.mode == "P" or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        bg.alpha_composite(rgba)
        return bg.convert("RGB")
    if img.mode in ("L", "RGB", "CMYK"):
        return img
    return img.convert("RGB")


def encode_image(img: PILImage.Image, fmt: str = "png", *, quality: int = 95) -> bytes:
    """Encode as ``png``, ``jpeg`` (transparency flattened on white) or ``webp``."""
    kind = fmt.lower()
    if kind == "png":
        return encode_png(img)
    buf = io.BytesIO()
    if kind in ("jpeg", "jpg"):
        _flatten_on_white(img).save(buf, format="JPEG", quality=quality)
    elif kind == "webp":
        has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        img.convert("RGBA" if has_alpha else "RGB").save(buf, format="WEBP", quality=quality)
    else:
        raise ValueError(f"unsupported image format {fmt!r} (png, jpeg or webp)")
    return buf.getvalue()


# --------------------------------------------------------------------------- geometry


def resize_to_max_side(
    data: bytes, max_side: int
) -> tuple[bytes, tuple[int, int], tuple[int, int]]:
    """Shrink so the longer side is ``max_side`` (aspect kept, Lanczos).

    Returns (bytes, old size, new size); the input bytes unchanged when already small enough.
    JPEG stays JPEG (EXIF kept), anything else becomes PNG.
    """
    from PIL import Image

    if max_side <= 0:
        raise ValueError("max_side must be positive")
    old = probe_size(data)
    w, h = old
    if max(w, h) <= max_side:
        return data, old, old
    scale = max_side / max(w, h)
    new = (
        max_side if w >= h else max(1, round(w * scale)),
        max_side if h > w else max(1, round(h * scale)),
    )
    img = decode_image(data)
    try:
        resized = img.resize(new, Image.Resampling.LANCZOS)
        if sniff_media_type(data) == "image/jpeg":
            buf = io.BytesIO()
            exif = img.info.get("exif")
            extra: dict[str, Any] = {"exif": exif} if isinstance(exif, bytes) else {}
            _flatten_on_white(resized).save(buf, format="JPEG", quality=95, **extra)
            out = buf.getvalue()
        else:
            out = encode_png(resized)
    finally:
        img.close()
    return out, old, new


def cover_crop(data: bytes, width: int, height: int, fmt: str = "jpeg") -> bytes:
    """Scale to cover ``width``×``height`` then centre-crop (video frames need exact sizes)."""
    from PIL import Image, ImageOps

    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    img = decode_image(data)
    try:
        upright = ImageOps.exif_transpose(img)
        fitted = ImageOps.fit(
            upright, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5)
        )
        return encode_image(fitted, fmt)
    finally:
        img.close()


def center_location(canvas_w: int, canvas_h: int, w: int, h: int) -> tuple[int, int]:
    """Top-left corner that centres a w×h image on a canvas (floor division, as Bria expects)."""
    return (canvas_w - w) // 2, (canvas_h - h) // 2


@dataclass(frozen=True)
class GenfillGeometry:
    """Numbers behind the GenFill border mask (SPEC §6.4). Boxes are inclusive (Pillow)."""

    thickness: int
    inside: int
    outside: int
    left: int
    top: int
    right: int
    bottom: int
    #: White band (x0, y0, x1, y1), clamped to the canvas.
    band: tuple[int, int, int, int]
    #: Black hole inside the band, or None when degenerate.
    hole: tuple[int, int, int, int] | None


def genfill_geometry(
    out_w: int, out_h: int, orig_w: int, orig_h: int, factor: float
) -> GenfillGeometry | None:
    """Where the seam band goes; None when the thickness rounds to zero (no GenFill)."""
    if min(out_w, out_h, orig_w, orig_h) <= 0:
        raise ValueError("sizes must be positive")
    t = round(min(out_w, out_h) * factor)
    if t <= 0:
        return None
    inside = round(t * 0.10)
    outside = t - inside
    left, top = center_location(out_w, out_h, orig_w, orig_h)
    right, bottom = left + orig_w, top + orig_h
    band = (
        max(0, left - outside),
        max(0, top - outside),
        min(out_w - 1, right + outside),
        min(out_h - 1, bottom + outside),
    )
    hx0, hy0, hx1, hy1 = left + inside, top + inside, right - inside, bottom - inside
    hole = (hx0, hy0, hx1, hy1) if hx1 > hx0 and hy1 > hy0 else None
    return GenfillGeometry(t, inside, outside, left, top, right, bottom, band, hole)


def create_genfill_border_mask(
    out_w: int, out_h: int, orig_w: int, orig_h: int, factor: float
) -> PILImage.Image | None:
    """Mode-L mask: white band over the outpaint seam, black elsewhere; None when t ≤ 0."""
    from PIL import Image, ImageDraw

    geo = genfill_geometry(out_w, out_h, orig_w, orig_h, factor)
    if geo is None:
        return None
    mask = Image.new("L", (out_w, out_h), 0)
    draw = ImageDraw.Draw(mask)
    bx0, by0, bx1, by1 = geo.band
    if bx1 >= bx0 and by1 >= by0:
        draw.rectangle(geo.band, fill=255)
    if geo.hole is not None:
        draw.rectangle(geo.hole, fill=0)
    return mask


def create_flux_inpainting_assets(
    img_bytes: bytes, canvas_w: int, canvas_h: int
) -> tuple[bytes, bytes]:
    """(big image, mask) PNGs for Flux inpainting outpaint (SPEC §6.5).

    The mask is white (generate) except the original, black (keep) — or ``255 − alpha`` where
    the input is transparent — shrunk by 2 px on each side so the seam is regenerated. The big
    image is a transparent canvas with the input's own RGBA pixels at the centre.
    """
    from PIL import Image, ImageChops

    img = decode_image(img_bytes)
    try:
        w, h = img.size
        if w > canvas_w or h > canvas_h:
            raise UsageError(
                f"input image {w}x{h} does not fit the {canvas_w}x{canvas_h} outpaint canvas"
            )
        pos = center_location(canvas_w, canvas_h, w, h)
        has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        rgba = img.convert("RGBA")
    finally:
        img.close()
    small = ImageChops.invert(rgba.getchannel("A")) if has_alpha else Image.new("L", (w, h), 0)
    mask = Image.new("L", (canvas_w, canvas_h), 255)
    if w > 4 and h > 4:
        mask.paste(small.crop((2, 2, w - 2, h - 2)), (pos[0] + 2, pos[1] + 2))
    else:
        mask.paste(small, pos)
    big = Image.new("RGBA", (canvas_w, canvas_h), (0, 0, 0, 0))
    # Pasting onto a fully transparent canvas keeps the input's RGBA exactly (its own alpha).
    big.paste(rgba, pos)
    return encode_png(big), encode_png(mask)


# --------------------------------------------------------------------------- C2PA


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of every PNG chunk; ValueError when the structure is broken."""
    if not data.startswith(_PNG_SIG):
        raise ValueError("not a PNG")
    out: list[tuple[bytes, int, int]] = []
    pos = len(_PNG_SIG)
    n = len(data)
    while pos + 12 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > n:
            raise ValueError("truncated PNG chunk")
        out.append((ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            return out
    raise ValueError("PNG without IEND")


def _riff_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(fourcc, start, end incl. padding) of each chunk of a RIFF WebP file."""
    if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise ValueError("not a WebP")
    out: list[tuple[bytes, int, int]] = []
    pos = 12
    n = len(data)
    while pos + 8 <= n:
        fourcc = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > n:
            raise ValueError("truncated WebP chunk")
        out.append((fourcc, pos, min(end, n)))
        pos = end
    return out


def has_content_credentials(data: bytes) -> bool:
    """True when the file carries a C2PA manifest (PNG ``caBX``, JPEG APP11 JUMBF, WebP ``C2PA``)."""
    mime = sniff_media_type(data)
    try:
        if mime == "image/png":
            return any(ctype == b"caBX" for ctype, _s, _e in _png_chunks(data))
        if mime == "image/jpeg":
            for marker, start, end in _jpeg_segments(data):
                if marker == 0xEB:
                    payload = data[start + 4 : end]
                    if b"JUMB" in payload or b"jumb" in payload:
                        return True
            return False
        if mime == "image/webp":
            return any(fourcc == b"C2PA" for fourcc, _s, _e in _riff_chunks(data))
    except (ValueError, struct.error, IndexError):
        # Unparseable: be conservative for the signature's sake.
        return b"caBX" in data or b"jumb" in data or b"C2PA" in data[:1_000_000]
    return False


# --------------------------------------------------------------------------- embedding


def embed_parameters(data: bytes, params: dict[str, Any]) -> bytes:
    """``data`` with a compact JSON copy of ``params`` embedded, pixels untouched.

    PNG: a ``tEXt`` (or ``iTXt`` when not Latin-1) chunk keyword ``parameters``, placed before
    the first IDAT (so readers that stop at the pixels, like Pillow's ``open``, see it), replacing
    an older one. JPEG: an XMP APP1 segment after SOI/APP0/Exif (a COM segment when
    the file already has XMP). WebP: an ``XMP `` chunk; simple VP8/VP8L files are promoted to
    VP8X. Files with C2PA Content Credentials, video and anything unparseable come back as is.
    """
    try:
        if has_content_credentials(data):
            return data
        payload = json.dumps(params, ensure_ascii=False, separators=(",", ":"), default=str)
        mime = sniff_media_type(data)
        if mime == "image/png":
            return _embed_png(data, payload)
        if mime == "image/jpeg":
            return _embed_jpeg(data, payload)
        if mime == "image/webp":
            return _embed_webp(data, payload)
    except (ValueError, struct.error, IndexError, UnicodeError, TypeError, OverflowError):
        return data
    return data


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _embed_png(data: bytes, payload: str) -> bytes:
    chunks = _png_chunks(data)
    key = _PARAM_KEY.encode("latin-1") + b"\x00"
    try:
        chunk = _png_chunk(b"tEXt", key + payload.encode("latin-1"))
    except UnicodeEncodeError:
        chunk = _png_chunk(b"iTXt", key + b"\x00\x00\x00\x00" + payload.encode("utf-8"))
    parts = [data[: len(_PNG_SIG)]]
    placed = False
    for ctype, start, end in chunks:
        if ctype in (b"tEXt", b"iTXt", b"zTXt") and data[start + 8 : end - 4].startswith(key):
            continue  # replace an older copy
        if not placed and ctype in (b"IDAT", b"IEND"):
            parts.append(chunk)
            placed = True
        parts.append(data[start:end])
    parts.append(data[chunks[-1][2] :])  # anything after IEND stays as it was
    return b"".join(parts)


def _xmp_packet(payload: str) -> bytes:
    from xml.sax.saxutils import escape

    body = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:twat="https://github.com/twardoch/twat-genai/ns/1.0/">'
        f"<twat:parameters>{escape(payload)}</twat:parameters>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return body.encode("utf-8")


def _embed_jpeg(data: bytes, payload: str) -> bytes:
    segments = _jpeg_segments(data)
    has_xmp = any(
        marker == 0xE1 and data[start + 4 : start + 4 + len(_XMP_NS)] == _XMP_NS
        for marker, start, _end in segments
    )
    if has_xmp:
        body = (_PARAM_KEY + ": " + payload).encode("utf-8")
        marker_bytes = b"\xff\xfe"
    else:
        body = _XMP_NS + _xmp_packet(payload)
        marker_bytes = b"\xff\xe1"
    if len(body) + 2 > 0xFFFF:
        return data  # too big for one segment: the sidecar has it all
    segment = marker_bytes + struct.pack(">H", len(body) + 2) + body
    insert_at = 2
    for marker, start, end in segments:
        is_exif = marker == 0xE1 and data[start + 4 : start + 10] == b"Exif\x00\x00"
        if start == insert_at and (marker == 0xE0 or is_exif):
            insert_at = end
        else:
            break
    return data[:insert_at] + segment + data[insert_at:]


def _embed_webp(data: bytes, payload: str) -> bytes:
    chunks = _riff_chunks(data)
    if not chunks:
        return data
    xmp = _xmp_packet(payload)
    xmp_chunk = b"XMP " + struct.pack("<I", len(xmp)) + xmp + (b"\x00" if len(xmp) & 1 else b"")
    first, fstart, _fend = chunks[0]
    if first == b"VP8X":
        flags = data[fstart + 8]
        if flags & 0x04 or any(c == b"XMP " for c, _s, _e in chunks):
            return data  # already has XMP: leave the owner's packet alone
        body = data[12:]
        body = body[:8] + bytes([flags | 0x04]) + body[9:]
        body += xmp_chunk
    elif first in (b"VP8 ", b"VP8L") and len(chunks) == 1:
        w, h = _webp_size(data)
        alpha = first == b"VP8L" and bool((int.from_bytes(data[21:25], "little") >> 28) & 1)
        vp8x = (
            b"VP8X"
            + struct.pack("<I", 10)
            + bytes([0x04 | (0x10 if alpha else 0)])
            + b"\x00\x00\x00"
            + (w - 1).to_bytes(3, "little")
            + (h - 1).to_bytes(3, "little")
        )
        body = vp8x + data[12:] + xmp_chunk
    else:
        return data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
