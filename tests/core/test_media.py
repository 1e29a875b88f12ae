"""Media bytes: sniffing, safe decoding, local inputs, fal outpaint masks, C2PA, embedding."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai.core import embed, inputs, media
from twat_genai.core.config import ImageInput
from twat_genai.core.errors import UsageError
from twat_genai.providers.fal import geometry


def _img_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (40, 30), mode: str = "RGB", **kw: Any
) -> bytes:
    color: object = (200, 10, 10, 128) if mode == "RGBA" else (200, 10, 10)
    if mode in ("L", "P"):
        color = 7
    img = Image.new(mode, size, color)  # type: ignore[arg-type]
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _with_cabx(png: bytes) -> bytes:
    """A PNG with a hand-made C2PA ``caBX`` chunk right after IHDR."""
    ihdr_end = 8 + 12 + 13
    jumbf = struct.pack(">I", 16) + b"jumb" + struct.pack(">I", 8) + b"jumd"
    return png[:ihdr_end] + _png_chunk(b"caBX", jumbf) + png[ihdr_end:]


def _mp4_header() -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + b"isom" + b"\x00\x00\x02\x00" + b"isomiso2"


# ------------------------------------------------------------------ sniffing


@pytest.mark.parametrize(
    ("data", "mime", "ext"),
    [
        (_img_bytes("PNG"), "image/png", "png"),
        (_img_bytes("JPEG"), "image/jpeg", "jpg"),
        (_img_bytes("WEBP"), "image/webp", "webp"),
        (_img_bytes("GIF", mode="P"), "image/gif", "gif"),
        (_mp4_header() + b"\x00" * 32, "video/mp4", "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm", "webm"),
    ],
)
def test_sniff_and_extension(data: bytes, mime: str, ext: str) -> None:
    assert media.sniff_media_type(data) == mime
    assert media.extension_for(mime) == ext


def test_sniff_unknown() -> None:
    assert media.sniff_media_type(b"hello world, not media") is None
    assert media.sniff_media_type(b"") is None
    assert media.extension_for(None) == "bin"
    assert media.extension_for("application/x-weird") == "bin"
    assert media.extension_for("IMAGE/JPEG; charset=binary") == "jpg"


def test_to_data_uri_round_trip() -> None:
    data = _img_bytes("PNG")
    uri = media.to_data_uri(data)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data
    assert inputs.load_local_bytes(ImageInput(url=uri)) == data


# ------------------------------------------------------------------ probing and decoding


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF"])
def test_probe_size(fmt: str) -> None:
    mode = "P" if fmt == "GIF" else "RGB"
    assert media.probe_size(_img_bytes(fmt, (123, 45), mode=mode)) == (123, 45)


@pytest.mark.parametrize("kw", [{}, {"lossless": True}])
def test_probe_size_webp(kw: dict[str, Any]) -> None:
    assert media.probe_size(_img_bytes("WEBP", (77, 33), **kw)) == (77, 33)
    assert media.probe_size(_img_bytes("WEBP", (77, 33), mode="RGBA", **kw)) == (77, 33)


def test_decode_image_ok() -> None:
    img = media.decode_image(_img_bytes("JPEG", (64, 48)))
    assert img.size == (64, 48)


def test_decode_refuses_non_image_with_one_line_message() -> None:
    with pytest.raises(UsageError) as info:
        media.decode_image(b"this is plainly text\n" * 10, source="x.png")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("input image 'x.png' is not a decodable image (")


def test_decode_refuses_truncated_image() -> None:
    data = _img_bytes("PNG", (300, 300))
    with pytest.raises(UsageError, match="not a decodable image"):
        media.decode_image(data[: len(data) // 2], source="half.png")


def test_decode_refuses_decompression_bomb_without_touching_global() -> None:
    before = Image.MAX_IMAGE_PIXELS
    # A valid 1-pixel PNG whose header claims 20000x20000: never decoded, refused from the header.
    png = _img_bytes("PNG", (1, 1))
    bomb = png[:16] + struct.pack(">II", 20000, 20000) + png[24:]
    with pytest.raises(UsageError, match="decompression bomb"):
        media.decode_image(bomb, source="bomb.png")
    # Even beyond Pillow's own hard limit the message is ours.
    huge = png[:16] + struct.pack(">II", 60000, 60000) + png[24:]
    with pytest.raises(UsageError, match="decompression bomb"):
        media.decode_image(huge, source="huge.png")
    assert before == Image.MAX_IMAGE_PIXELS
    # probe_size reports the claimed size without decoding.
    assert media.probe_size(bomb) == (20000, 20000)


def test_decode_refuses_oversize(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_INPUT_BYTES", 100)
    with pytest.raises(UsageError, match="too large"):
        media.decode_image(_img_bytes("PNG", (100, 100)) + b"\x00" * 200)


# ------------------------------------------------------------------ local inputs


def test_load_local_bytes_path(tmp_path: Path) -> None:
    data = _img_bytes("PNG")
    p = tmp_path / "x.png"
    p.write_bytes(data)
    assert inputs.load_local_bytes(ImageInput(path=p)) == data


def test_load_local_bytes_missing_and_dir(tmp_path: Path) -> None:
    missing = tmp_path / "path" / "to" / "x.png"
    with pytest.raises(UsageError, match=r"input image not found: .*x\.png"):
        inputs.load_local_bytes(ImageInput(path=missing))
    with pytest.raises(UsageError, match="not a file"):
        inputs.load_local_bytes(ImageInput(path=tmp_path))


def test_load_local_bytes_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.png"
    p.write_bytes(b"\x00" * 1000)
    monkeypatch.setattr(media, "MAX_INPUT_BYTES", 500)
    with pytest.raises(UsageError, match="too large"):
        inputs.load_local_bytes(ImageInput(path=p))


def test_load_local_bytes_refuses_http() -> None:
    with pytest.raises(ValueError, match="transport") as info:
        inputs.load_local_bytes(ImageInput(url="https://example.com/a.png"))
    assert not isinstance(info.value, UsageError)


def test_load_local_bytes_bad_data_uri() -> None:
    with pytest.raises(UsageError, match="base64"):
        inputs.load_local_bytes(ImageInput(url="data:image/png;base64,@@@not-base64@@@"))


def test_load_local_bytes_raw_data() -> None:
    data = _img_bytes("JPEG")
    assert inputs.load_local_bytes(ImageInput(data=data)) == data


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "1", "RGB"])
def test_pil_inputs_encoded_as_lossless_png(mode: str) -> None:
    img = Image.new("RGBA", (10, 8), (1, 2, 3, 100)).convert(mode)
    data = inputs.load_local_bytes(ImageInput(pil_image=img))
    assert media.sniff_media_type(data) == "image/png"
    back = Image.open(io.BytesIO(data))
    assert back.mode == img.mode
    assert back.tobytes() == img.tobytes()


def test_validate_local_input(tmp_path: Path) -> None:
    p = tmp_path / "in.webp"
    p.write_bytes(_img_bytes("WEBP", (50, 20)))
    data, mime, size = inputs.validate_local_input(ImageInput(path=p))
    assert (mime, size) == ("image/webp", (50, 20))
    assert data == p.read_bytes()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope" * 50)
    with pytest.raises(UsageError, match=r"'.*bad\.png' is not a decodable image"):
        inputs.validate_local_input(ImageInput(path=bad))


def test_image_input_open_pil_uses_helpers(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    p.write_bytes(_img_bytes("PNG", (9, 7)))
    assert ImageInput(path=p).open_pil().size == (9, 7)


# ------------------------------------------------------------------ encoding and geometry


def test_encode_image_jpeg_flattens_alpha_on_white() -> None:
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    data = media.encode_image(img, "jpeg")
    back = Image.open(io.BytesIO(data))
    assert back.format == "JPEG"
    assert back.mode == "RGB"
    px = back.getpixel((4, 4))
    assert isinstance(px, tuple)
    assert min(px) > 245
    pal = Image.new("P", (8, 8), 3)
    assert media.sniff_media_type(media.encode_image(pal, "jpeg")) == "image/jpeg"
    assert media.sniff_media_type(media.encode_image(img, "webp")) == "image/webp"
    with pytest.raises(ValueError, match="unsupported"):
        media.encode_image(img, "bmp")


def test_resize_to_max_side() -> None:
    small = _img_bytes("PNG", (100, 50))
    assert media.resize_to_max_side(small, 100) == (small, (100, 50), (100, 50))
    out, old, new = media.resize_to_max_side(_img_bytes("PNG", (400, 100)), 200)
    assert (old, new) == ((400, 100), (200, 50))
    assert media.probe_size(out) == (200, 50)
    assert media.sniff_media_type(out) == "image/png"
    jpg, _old, new = media.resize_to_max_side(_img_bytes("JPEG", (300, 600)), 100)
    assert new == (50, 100)
    assert media.sniff_media_type(jpg) == "image/jpeg"


def test_cover_crop() -> None:
    out = media.cover_crop(_img_bytes("PNG", (400, 100)), 64, 64)
    assert media.sniff_media_type(out) == "image/jpeg"
    assert media.probe_size(out) == (64, 64)
    wide = media.cover_crop(_img_bytes("PNG", (50, 300)), 160, 90, fmt="png")
    assert media.probe_size(wide) == (160, 90)


def test_center_location() -> None:
    assert geometry.center_location(2048, 1024, 1024, 768) == (512, 128)
    assert geometry.center_location(1920, 1080, 1000, 600) == (460, 240)
    assert geometry.center_location(11, 11, 4, 4) == (3, 3)


def test_genfill_geometry_worked_example() -> None:
    geo = geometry.genfill_geometry(2048, 1024, 1024, 768, 0.05)
    assert geo is not None
    assert (geo.thickness, geo.inside, geo.outside) == (51, 5, 46)
    assert (geo.left, geo.top, geo.right, geo.bottom) == (512, 128, 1536, 896)
    assert geo.band == (466, 82, 1582, 942)
    assert geo.hole == (517, 133, 1531, 891)


def test_genfill_mask_worked_example_pixel_exact() -> None:
    mask = geometry.create_genfill_border_mask(2048, 1024, 1024, 768, 0.05)
    assert mask is not None
    assert mask.mode == "L"
    assert mask.size == (2048, 1024)

    def px(x: int, y: int) -> int:
        value = mask.getpixel((x, y))
        assert isinstance(value, int)
        return value

    mid_y, mid_x = 500, 1000
    # Band's outer edges: white at 466..1582 and 82..942, black just outside.
    assert px(465, mid_y) == 0
    assert px(466, mid_y) == 255
    assert px(1582, mid_y) == 255
    assert px(1583, mid_y) == 0
    assert px(mid_x, 81) == 0
    assert px(mid_x, 82) == 255
    assert px(mid_x, 942) == 255
    assert px(mid_x, 943) == 0
    # Hole's edges: black 517..1531 and 133..891, white just outside.
    assert px(516, mid_y) == 255
    assert px(517, mid_y) == 0
    assert px(1531, mid_y) == 0
    assert px(1532, mid_y) == 255
    assert px(mid_x, 132) == 255
    assert px(mid_x, 133) == 0
    assert px(mid_x, 891) == 0
    assert px(mid_x, 892) == 255
    # Corners of the canvas stay black.
    assert px(0, 0) == 0
    assert px(2047, 1023) == 0


def test_genfill_mask_none_when_thickness_zero() -> None:
    assert geometry.create_genfill_border_mask(100, 100, 50, 50, 0.0) is None
    assert geometry.create_genfill_border_mask(100, 100, 50, 50, 0.004) is None
    assert geometry.genfill_geometry(100, 100, 50, 50, 0) is None


def test_genfill_mask_band_clamped_to_canvas() -> None:
    geo = geometry.genfill_geometry(1000, 1000, 990, 990, 0.1)
    assert geo is not None
    assert geo.band == (0, 0, 999, 999)
    assert geometry.create_genfill_border_mask(1000, 1000, 990, 990, 0.1) is not None


def test_flux_inpainting_assets_worked_example_pixel_exact() -> None:
    src = _img_bytes("JPEG", (1000, 600))
    big_png, mask_png = geometry.create_flux_inpainting_assets(src, 1920, 1080)
    mask = Image.open(io.BytesIO(mask_png))
    big = Image.open(io.BytesIO(big_png))
    assert media.sniff_media_type(mask_png) == media.sniff_media_type(big_png) == "image/png"
    assert mask.size == big.size == (1920, 1080)
    assert big.mode == "RGBA"

    def m(x: int, y: int) -> int:
        value = mask.getpixel((x, y))
        assert isinstance(value, int)
        return value

    mid_y, mid_x = 540, 960
    assert m(461, mid_y) == 255
    assert m(462, mid_y) == 0
    assert m(1457, mid_y) == 0
    assert m(1458, mid_y) == 255
    assert m(mid_x, 241) == 255
    assert m(mid_x, 242) == 0
    assert m(mid_x, 837) == 0
    assert m(mid_x, 838) == 255
    # Big image: transparent outside, the input opaque from (460, 240) to (1459, 839).
    alpha = big.getchannel("A")
    assert alpha.getpixel((459, mid_y)) == 0
    assert alpha.getpixel((460, mid_y)) == 255
    assert alpha.getpixel((1459, mid_y)) == 255
    assert alpha.getpixel((1460, mid_y)) == 0
    assert alpha.getpixel((mid_x, 239)) == 0
    assert alpha.getpixel((mid_x, 240)) == 255
    assert alpha.getpixel((mid_x, 839)) == 255
    assert alpha.getpixel((mid_x, 840)) == 0


def test_flux_inpainting_assets_transparent_input() -> None:
    img = Image.new("RGBA", (20, 10), (10, 20, 30, 255))
    img.putpixel((10, 5), (10, 20, 30, 0))  # a hole: regenerate there
    img.putpixel((11, 5), (10, 20, 30, 55))
    big_png, mask_png = geometry.create_flux_inpainting_assets(media.encode_png(img), 40, 30)
    mask = Image.open(io.BytesIO(mask_png))
    pos = geometry.center_location(40, 30, 20, 10)
    assert mask.getpixel((pos[0] + 10, pos[1] + 5)) == 255
    assert mask.getpixel((pos[0] + 11, pos[1] + 5)) == 200
    assert mask.getpixel((pos[0] + 5, pos[1] + 5)) == 0
    big = Image.open(io.BytesIO(big_png))
    assert big.getpixel((pos[0] + 11, pos[1] + 5)) == (10, 20, 30, 55)


def test_flux_inpainting_assets_refuses_too_big() -> None:
    with pytest.raises(UsageError, match="does not fit"):
        geometry.create_flux_inpainting_assets(_img_bytes("PNG", (50, 50)), 40, 60)


# ------------------------------------------------------------------ C2PA and embedding


def test_has_content_credentials() -> None:
    png = _img_bytes("PNG")
    assert not embed.has_content_credentials(png)
    assert embed.has_content_credentials(_with_cabx(png))
    jpg = _img_bytes("JPEG")
    assert not embed.has_content_credentials(jpg)
    app11_body = b"JP\x00\x00\x00\x00\x00\x01" + struct.pack(">I", 16) + b"jumb" + b"\x00" * 8
    app11 = b"\xff\xeb" + struct.pack(">H", len(app11_body) + 2) + app11_body
    assert embed.has_content_credentials(jpg[:2] + app11 + jpg[2:])
    webp = _img_bytes("WEBP", mode="RGBA")  # VP8X
    assert not embed.has_content_credentials(webp)
    body = webp[12:] + b"C2PA" + struct.pack("<I", 4) + b"abcd"
    signed = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
    assert embed.has_content_credentials(signed)
    assert not embed.has_content_credentials(_mp4_header())


def test_c2pa_files_left_byte_identical() -> None:
    signed = _with_cabx(_img_bytes("PNG"))
    out = embed.embed_parameters(signed, {"prompt": "a cat"})
    assert out == signed
    assert out is signed


def test_embed_png_round_trip() -> None:
    data = _img_bytes("PNG", (30, 20))
    params = {"prompt": "a red car", "seed": 42, "model": "fal-ai/flux/dev"}
    out = embed.embed_parameters(data, params)
    assert out != data
    img = Image.open(io.BytesIO(out))
    assert img.size == (30, 20)
    text = img.info["parameters"]
    assert isinstance(text, str)
    assert json.loads(text) == params
    # Pixels untouched: the IDAT..IEND tail is byte-identical.
    idat = data.index(b"IDAT") - 4
    assert out.endswith(data[idat:])
    assert img.tobytes() == Image.open(io.BytesIO(data)).tobytes()
    # Embedding again replaces, not duplicates.
    again = embed.embed_parameters(out, {"prompt": "new"})
    assert again.count(b"tEXtparameters") == 1
    assert Image.open(io.BytesIO(again)).info["parameters"] == '{"prompt":"new"}'


def test_embed_png_non_latin1_uses_itxt() -> None:
    out = embed.embed_parameters(_img_bytes("PNG"), {"prompt": "猫 🐈"})
    assert b"iTXt" in out
    text = Image.open(io.BytesIO(out)).info["parameters"]
    assert isinstance(text, str)
    assert json.loads(text) == {"prompt": "猫 🐈"}


def test_embed_jpeg_xmp_keeps_image() -> None:
    data = _img_bytes("JPEG", (33, 22))
    before = Image.open(io.BytesIO(data))
    out = embed.embed_parameters(data, {"prompt": "a & b <c>", "seed": 1})
    assert out != data
    assert b"http://ns.adobe.com/xap/1.0/\x00" in out
    assert b"a &amp; b &lt;c&gt;" in out
    after = Image.open(io.BytesIO(out))
    assert after.size == (33, 22)
    assert after.tobytes() == before.tobytes()
    # Existing XMP: a COM segment instead, never a second XMP packet.
    twice = embed.embed_parameters(out, {"prompt": "x"})
    assert twice.count(b"http://ns.adobe.com/xap/1.0/\x00") == 1
    assert b'parameters: {"prompt":"x"}' in twice
    assert Image.open(io.BytesIO(twice)).size == (33, 22)


@pytest.mark.parametrize(
    ("mode", "kw"),
    [("RGB", {}), ("RGB", {"lossless": True}), ("RGBA", {}), ("RGBA", {"lossless": True})],
)
def test_embed_webp_adds_xmp_and_still_decodes(mode: str, kw: dict[str, Any]) -> None:
    data = _img_bytes("WEBP", (21, 13), mode=mode, **kw)
    before = Image.open(io.BytesIO(data))
    out = embed.embed_parameters(data, {"prompt": "p"})
    assert out != data
    assert out[12:16] == b"VP8X"
    assert struct.unpack("<I", out[4:8])[0] == len(out) - 8
    after = Image.open(io.BytesIO(out))
    assert after.size == (21, 13)
    assert after.mode == before.mode
    assert after.tobytes() == before.tobytes()
    assert b"<twat:parameters>" in out
    assert media.probe_size(out) == (21, 13)


def test_embed_leaves_video_and_garbage_unchanged() -> None:
    mp4 = _mp4_header() + b"\x00" * 100
    assert embed.embed_parameters(mp4, {"a": 1}) is mp4
    broken = _img_bytes("PNG")[:40]
    assert embed.embed_parameters(broken, {"a": 1}) is broken
    junk = b"\xff\xd8\xff\xe0\xff\xff"
    assert embed.embed_parameters(junk, {"a": 1}) is junk


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml"),
        (b"\xef\xbb\xbf<svg width='1'></svg>", "image/svg+xml"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", "video/quicktime"),
        (b"\x00\x00\x00\x6cmoov\x00\x00\x00\x6cmvhd", "video/quicktime"),
        (b"\xff\x0a\xfa\x7f", "image/jxl"),
        (b"II+\x00\x08\x00\x00\x00", "image/tiff"),
        (b"<!DOCTYPE html><html>error</html>", None),
        (b"<?xml version='1.0'?><error>no</error>", None),
    ],
)
def test_more_media_types_are_recognised(head: bytes, kind: str | None) -> None:
    from twat_genai.core.media import sniff_media_type

    assert sniff_media_type(head) == kind
