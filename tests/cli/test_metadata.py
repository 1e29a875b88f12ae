"""``twat-genai metadata``: our embedded parameters read back from PNG, JPEG and WebP, other
tools' text shown raw, C2PA presence, the sidecar, and files that are missing, broken or not
images at all."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from twat_genai.core.embed import embed_parameters, read_embedded_text, read_parameters

PARAMS = {"prompt": "a café at dusk, ☕", "model": "fal-ai/flux/dev", "seed": 7, "size": "8x6"}


def _image(fmt: str, **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 120, 200)).save(buf, fmt, **save)
    return buf.getvalue()


def _reports(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_embedded_parameters_read_back(fmt: str) -> None:
    """What embed_parameters writes, read_parameters returns, in each format it writes."""
    data = embed_parameters(_image(fmt), PARAMS)
    assert read_parameters(data) == PARAMS
    assert read_parameters(_image(fmt)) is None


def test_jpeg_that_already_had_xmp_is_read_from_the_comment() -> None:
    """A JPEG with another tool's XMP gets our copy as a comment; it is read back from there,
    and the other tool's packet is shown as it is."""
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>theirs</x:xmpmeta>"
    plain = _image("JPEG")
    data = plain[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + plain[2:]
    data = embed_parameters(data, PARAMS)
    assert read_parameters(data) == PARAMS
    assert read_embedded_text(data)["XMP"] == "<x:xmpmeta>theirs</x:xmpmeta>"


def test_sandbox_output_shows_parameters_and_sidecar(run_cli) -> None:
    """A real output: the embedded parameters match the sidecar's prompt and request id, the
    sidecar is shown whole, and no C2PA is reported."""
    code, out, err = run_cli("text", "a red kite", "--sandbox", "--output_format", "png")
    assert code == 0, err
    [path] = out.split()
    code, out, err = run_cli("metadata", "--json", path)
    assert (code, err) == (0, "")
    [report] = _reports(out)
    sidecar = json.loads(Path(path).with_suffix(".json").read_text())
    assert report["media_type"] == "image/png"
    assert (report["width"], report["height"]) == (1024, 1024)
    assert report["content_credentials"] is False
    assert report["parameters"]["prompt"] == "a red kite"
    assert report["parameters"]["request_id"] == sidecar["request_id"]
    assert report["text"] == {}  # our own chunk is shown parsed, not twice
    assert report["sidecar"] == sidecar
    assert report["sidecar_path"] == str(Path(path).with_suffix(".json"))
    code, text, _ = run_cli("metadata", path)
    assert text.splitlines()[:3] == [
        path,
        "  type: image/png 1024x1024",
        "  content credentials (C2PA): no",
    ]
    assert '  embedded parameters: {"prompt": "a red kite"' in text
    assert f"  sidecar: {Path(path).with_suffix('.json')}" in text
    assert '    "request_id": ' in text


def test_other_tools_text_is_shown_raw(run_cli, tmp_path: Path) -> None:
    """AUTOMATIC1111's plain-text ``parameters`` and ComfyUI's compressed ``workflow`` are shown
    as they are, with no parameters claimed and no sidecar."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1")
    info.add_text("workflow", '{"nodes": []}', zip=True)
    info.add_itxt("Title", "Ünïcode", zip=True)
    Path("a1111.png").write_bytes(_image("PNG", pnginfo=info))
    code, out, _ = run_cli("metadata", "--json", "a1111.png")
    [report] = _reports(out)
    assert code == 0
    assert report["parameters"] is None
    assert report["text"] == {
        "parameters": "a cat\nSteps: 20, Sampler: Euler a, Seed: 1",
        "workflow": '{"nodes": []}',
        "Title": "Ünïcode",
    }
    assert report["sidecar"] is None
    _, text, _ = run_cli("metadata", "a1111.png")
    assert "  text parameters: a cat\n    Steps: 20, Sampler: Euler a, Seed: 1" in text
    assert "  embedded parameters: none" in text
    assert "  sidecar: none" in text


def test_exif_user_comment_of_a_jpeg(run_cli) -> None:
    """The EXIF UserComment AUTOMATIC1111 writes into JPEGs (UTF-16 after ``UNICODE``) and an
    ImageDescription are shown."""
    img = Image.new("RGB", (8, 6))
    exif = img.getexif()
    exif[0x010E] = "a description"
    comment = "a dog\nSteps: 30"
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + comment.encode("utf-16-be")
    img.save("a1111.jpg", "JPEG", exif=exif.tobytes())
    _, out, _ = run_cli("metadata", "--json", "a1111.jpg")
    [report] = _reports(out)
    assert report["text"] == {
        "EXIF UserComment": comment,
        "EXIF ImageDescription": "a description",
    }


def test_content_credentials_are_reported(run_cli) -> None:
    """A PNG with a C2PA ``caBX`` chunk is reported as carrying Content Credentials."""
    plain = _image("PNG")
    body = b"jumb c2pa manifest"
    chunk = (
        struct.pack(">I", len(body))
        + b"caBX"
        + body
        + struct.pack(">I", zlib.crc32(b"caBX" + body))
    )
    Path("signed.png").write_bytes(plain[:33] + chunk + plain[33:])
    _, out, _ = run_cli("metadata", "--json", "signed.png")
    assert _reports(out)[0]["content_credentials"] is True
    _, text, _ = run_cli("metadata", "signed.png")
    assert "  content credentials (C2PA): yes (file left untouched)" in text


def test_missing_files_are_one_line_each_and_the_rest_reported(run_cli) -> None:
    """Missing files and folders are one error line each naming them (exit 2); the readable
    files around them are still reported, in order."""
    Path("a.png").write_bytes(embed_parameters(_image("PNG"), PARAMS))
    Path("b.webp").write_bytes(embed_parameters(_image("WEBP"), PARAMS))
    Path("folder").mkdir()
    code, out, err = run_cli("metadata", "a.png", "nope.png", "folder", "b.webp")
    assert code == 2
    assert err.splitlines() == [
        "twat-genai: error: nope.png: no such file",
        "twat-genai: error: folder: is a folder, not a file",
    ]
    assert [line for line in out.splitlines() if not line.startswith(" ")] == ["a.png", "b.webp"]
    code, out, _ = run_cli("metadata", "--json", "a.png", "nope.png", "b.webp")
    assert code == 2
    assert [r["parameters"] for r in _reports(out)] == [PARAMS, PARAMS]


def test_not_an_image_and_broken_files(run_cli) -> None:
    """A text file, a truncated PNG and a video with a sidecar are reported without error."""
    Path("notes.txt").write_text("hello")
    Path("broken.png").write_bytes(embed_parameters(_image("PNG"), PARAMS)[:60])
    Path("clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    Path("clip.json").write_text(json.dumps({"prompt": "waves"}))
    Path("bad.png").write_bytes(_image("PNG"))
    Path("bad.json").write_text("{not json")
    code, out, err = run_cli("metadata", "--json", "notes.txt", "broken.png", "clip.mp4", "bad.png")
    assert (code, err) == (0, "")
    notes, broken, clip, bad = _reports(out)
    assert (notes["media_type"], notes["parameters"], notes["text"]) == (None, None, {})
    assert notes["content_credentials"] is None and notes["sidecar"] is None
    assert broken["media_type"] == "image/png" and broken["parameters"] is None
    assert clip["media_type"] == "video/mp4"
    assert clip["content_credentials"] is None
    assert clip["sidecar"] == {"prompt": "waves"}
    assert bad["sidecar"] is None and bad["sidecar_error"].startswith("not valid JSON")
    _, text, _ = run_cli("metadata", "notes.txt", "bad.png")
    assert "  type: unknown (not an image or video: nothing embedded to read)" in text
    assert "  sidecar: bad.json: not valid JSON" in text


def test_long_text_is_cut_without_json_only(run_cli) -> None:
    """A long chunk (a ComfyUI workflow) is cut at 2,000 characters in text; --json has it all."""
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", "x" * 5000)
    Path("big.png").write_bytes(_image("PNG", pnginfo=info))
    _, text, _ = run_cli("metadata", "big.png")
    assert "x" * 2000 + "… (3000 more characters; --json shows all)" in text
    _, out, _ = run_cli("metadata", "--json", "big.png")
    assert _reports(out)[0]["text"]["workflow"] == "x" * 5000
