"""Parameters embedded in image files (PNG text chunk, JPEG/WebP XMP) and read back with other
tools' text, and the C2PA Content Credentials check that leaves signed files untouched.

Chunk-level edits never re-encode pixels, and never touch a file that carries C2PA Content
Credentials (that would break the signature).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any

from twat_genai.core.media import _PNG_SIG, _jpeg_segments, _webp_size, sniff_media_type

_XMP_NS = b"http://ns.adobe.com/xap/1.0/\x00"
_PARAM_KEY = "parameters"

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


def _xml_escape(text: str) -> str:
    """``xml.sax.saxutils.escape`` (whose package costs 3 ms to import, once per run)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_unescape(text: str) -> str:
    """``xml.sax.saxutils.unescape``: ``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _xmp_packet(payload: str) -> bytes:
    body = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:twat="https://github.com/twardoch/twat-genai/ns/1.0/">'
        f"<twat:parameters>{_xml_escape(payload)}</twat:parameters>"
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


# --------------------------------------------------------------------------- reading

#: Largest decompressed PNG text chunk read back: a zTXt bomb costs at most this much.
_MAX_TEXT = 16 * 1024 * 1024
_TWAT_XMP = re.compile(r"<twat:parameters>(.*?)</twat:parameters>", re.DOTALL)


def read_parameters(data: bytes) -> dict[str, Any] | None:
    """The parameters :func:`embed_parameters` wrote (a JSON object), or None: absent, another
    tool's text under the same name (AUTOMATIC1111 also writes PNG ``parameters``), or not an
    image we embed into."""
    text = read_embedded_text(data)
    comment = text.get("comment", "")
    candidates = [text.get(_PARAM_KEY)]
    if comment.startswith(_PARAM_KEY + ": "):  # JPEGs that already had XMP (_embed_jpeg)
        candidates.append(comment.removeprefix(_PARAM_KEY + ": "))
    found = _TWAT_XMP.search(text.get("XMP", ""))
    if found:
        candidates.insert(0, _xml_unescape(found.group(1)))
    for raw in candidates:
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def read_embedded_text(data: bytes) -> dict[str, str]:
    """Text an image carries, by name, as any tool wrote it: PNG text chunks by keyword (ours
    and AUTOMATIC1111's ``parameters``, ComfyUI's ``prompt``/``workflow``), the XMP packet as
    ``XMP``, a JPEG comment as ``comment``, and EXIF ``UserComment``/``ImageDescription`` (where
    JPEG and WebP tools put their prompts). Empty for other formats; never raises on a broken
    file, as the files read here are often someone else's."""
    out: dict[str, str] = {}
    mime = sniff_media_type(data)
    try:
        if mime == "image/png":
            for ctype, start, end in _png_chunks(data):
                if ctype in (b"tEXt", b"zTXt", b"iTXt"):
                    entry = _png_text(ctype, data[start + 8 : end - 4])
                    if entry is not None:
                        _put(out, *entry)
        elif mime == "image/jpeg":
            for marker, start, end in _jpeg_segments(data):
                body = data[start + 4 : end]
                if marker == 0xE1 and body.startswith(_XMP_NS):
                    _put(out, "XMP", body[len(_XMP_NS) :].decode("utf-8", "replace"))
                elif marker == 0xFE:
                    _put(out, "comment", body.decode("utf-8", "replace"))
        elif mime == "image/webp":
            for fourcc, start, _end in _riff_chunks(data):
                if fourcc == b"XMP ":
                    (size,) = struct.unpack("<I", data[start + 4 : start + 8])
                    _put(out, "XMP", data[start + 8 : start + 8 + size].decode("utf-8", "replace"))
    except (ValueError, struct.error, IndexError, zlib.error):
        pass  # what was read before the damage is kept
    if mime in ("image/jpeg", "image/webp"):
        for name, value in _exif_text(data).items():
            _put(out, name, value)
    return out


def _put(out: dict[str, str], name: str, value: str) -> None:
    """Add ``value`` under ``name``, or ``name (2)``... when a file repeats a name."""
    key, n = name, 1
    while key in out:
        n += 1
        key = f"{name} ({n})"
    out[key] = value.rstrip("\x00")


def _png_text(ctype: bytes, body: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk body (PNG spec §11.3.4)."""
    keyword, sep, rest = body.partition(b"\x00")
    if not sep:
        return None
    name = keyword.decode("latin-1")
    if ctype == b"tEXt":
        return name, rest.decode("latin-1")
    if ctype == b"zTXt":
        return name, _inflate(rest[1:]).decode("latin-1")
    compressed, _method = rest[0], rest[1]
    _lang, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return name, (_inflate(text) if compressed else text).decode("utf-8", "replace")


def _inflate(data: bytes) -> bytes:
    return zlib.decompressobj().decompress(data, _MAX_TEXT)


_EXIF_IFD = 0x8769
_EXIF_TEXT = {0x9286: "EXIF UserComment", 0x010E: "EXIF ImageDescription"}


def _exif_text(data: bytes) -> dict[str, str]:
    """EXIF UserComment and ImageDescription, read by Pillow from the header only."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif()
            tags = {**dict(exif), **dict(exif.get_ifd(_EXIF_IFD))}
    except Exception:  # a foreign file's broken EXIF means "no EXIF text", never a crash
        return {}
    out: dict[str, str] = {}
    for tag, name in _EXIF_TEXT.items():
        value = tags.get(tag)
        text = _user_comment(value) if isinstance(value, bytes) else value
        if isinstance(text, str) and text.strip("\x00 "):
            out[name] = text
    return out


def _user_comment(raw: bytes) -> str:
    """An EXIF UserComment: an 8-byte charset header, then the text (AUTOMATIC1111 writes
    ``UNICODE`` with UTF-16, big-endian as piexif does; little-endian files exist too)."""
    head, body = raw[:8], raw[8:]
    if head.startswith(b"UNICODE"):
        big = body.decode("utf-16-be", "replace")
        little = body.decode("utf-16-le", "replace")
        return big if sum(c.isascii() for c in big) >= sum(c.isascii() for c in little) else little
    return (body if head.rstrip(b"\x00") in (b"ASCII", b"") else raw).decode("utf-8", "replace")
