"""Media bytes: what a file is (sniffed from its bytes), its size from the header, decoding
with bomb checks, and re-encoding (resize, crop, PNG/JPEG/WebP).

Everything here is synchronous and CPU-bound; async callers run it in ``asyncio.to_thread``.
Pillow is imported inside the functions that need it so ``import twat_genai`` stays light.
"""

from __future__ import annotations

import base64
import io
import struct
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import ModelError, UsageError

if TYPE_CHECKING:
    from PIL import Image as PILImage

MAX_INPUT_BYTES = 50 * 1024 * 1024
#: Largest input accepted (pixels): 8192×8192. Bigger is refused as a decompression bomb.
MAX_PIXELS = 8192 * 8192

_PNG_SIG = b"\x89PNG\r\n\x1a\n"

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
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/mp4": "m4a",
}


# --------------------------------------------------------------------------- sniffing


#: Second bytes of an MPEG audio frame header (MPEG-1/2 layer III, with or without CRC).
_MP3_SYNC = frozenset({0xFB, 0xFA, 0xF3, 0xF2, 0xE3, 0xE2})

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
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "image/jxl"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in bytes(data[:256]) else "video/x-matroska"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] in _MP3_SYNC):
        return "audio/mpeg"
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


def input_label(source: str) -> str:
    return "input image" if source == "input" else f"input image {source!r}"


def mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def decode_image(data: bytes, *, source: str = "input") -> PILImage.Image:
    """Fully decode ``data``, refusing non-images, oversize data and decompression bombs.

    The pixel count is read from the header before anything is decoded, so a bomb never
    allocates. Pillow's global ``MAX_IMAGE_PIXELS`` is left alone.
    """
    from PIL import Image, UnidentifiedImageError

    label = input_label(source)
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{label} is too large ({mib(len(data))} > {mib(MAX_INPUT_BYTES)})")
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


def reencode_png(data: bytes) -> bytes:
    """The image in ``data`` as PNG (for models that take PNG input only); PNG stays as is."""
    if sniff_media_type(data) == "image/png":
        return data
    img = decode_image(data)
    try:
        return encode_png(img)
    finally:
        img.close()


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


# --------------------------------------------------------------------------- checks

#: How much of an output is looked at to tell what it is.
SNIFF_BYTES = 4096


def _text_type(head: bytes) -> str | None:
    """The kind of text ``head`` is (an error page, a JSON error …), None for binary data."""
    sample = bytes(head[:SNIFF_BYTES])
    text = sample.decode("utf-8", errors="replace")
    if text.count("\ufffd") > 4 or any(ord(c) < 32 and c not in "\t\r\n\f" for c in text):
        return None
    low = text.lstrip().lower()
    if low.startswith(("<!doctype html", "<html")) or "<html" in low[:512]:
        return "text/html"
    if low.startswith(("{", "[")):
        return "application/json"
    if low.startswith("<"):
        return "text/xml"
    return "text/plain"


def describe_payload(head: bytes, size: int, declared: str | None = None) -> str:
    """What came back instead of media, in a few words: ``0 bytes``, ``text/html (57 bytes,
    labelled image/jpeg): '<html>…'``, ``unrecognised data (1024 bytes)``. Judged from the
    bytes; the declared type is only mentioned."""
    if size == 0:
        return "0 bytes"
    kind = _text_type(head)
    label = (declared or "").split(";", 1)[0].strip().lower()
    about = f"{size} bytes" + (f", labelled {label}" if label and label != kind else "")
    if kind is None:
        return f"unrecognised data ({about})"
    snippet = " ".join(bytes(head[:SNIFF_BYTES]).decode("utf-8", errors="replace").split())
    if len(snippet) > 120:
        snippet = snippet[:119] + "…"
    return f"{kind} ({about}): {snippet!r}"


def cut_short(head: bytes, tail: bytes, size: int) -> bool:
    """Whether an image file stops before its format's end (a download that broke off but
    looked whole to HTTP): PNG ends with ``IEND``, JPEG with its EOI marker, GIF with ``;``,
    WebP is as long as its RIFF header says. Other types are taken as complete."""
    kind = sniff_media_type(head)
    if kind == "image/png":
        return not tail.endswith(b"IEND\xaeB`\x82")
    if kind == "image/jpeg":
        return b"\xff\xd9" not in tail[-32:]  # a few padding bytes may follow EOI
    if kind == "image/gif":
        return not tail.endswith(b";")
    if kind == "image/webp" and len(head) >= 8:
        return int.from_bytes(head[4:8], "little") + 8 > size
    return False


def not_media_error(
    head: bytes,
    size: int,
    *,
    provider: str,
    model: str,
    expected: str = "an image",
    declared: str | None = None,
    request_id: str | None = None,
) -> ModelError | None:
    """The error for an output that is empty or does not sniff as an image or video, else None.

    Only the bytes decide (a ``Content-Type`` or ``mimeType`` saying ``image/…`` proves
    nothing: gateways answer errors and empty bodies under it)."""
    if size > 0 and sniff_media_type(head) is not None:
        return None
    what = describe_payload(head, size, declared)
    return ModelError(
        f"{model} returned {what}, not {expected}",
        provider=provider,
        request_id=request_id,
    )
