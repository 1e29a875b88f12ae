"""Tests for twat_genai.core.writer: names, atomicity, sidecars, streaming."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai.core import writer as writer_mod
from twat_genai.core.writer import OutputWriter, embedded_subset, slugify

FIXED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _clock() -> datetime:
    return FIXED


def _png(size: tuple[int, int] = (16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(size: tuple[int, int] = (16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, format="JPEG")
    return buf.getvalue()


def _mp4() -> bytes:
    return (
        struct.pack(">I", 24) + b"ftyp" + b"isom" + b"\x00\x00\x02\x00" + b"isomiso2" + b"\0" * 64
    )


def _meta(**extra: Any) -> dict[str, Any]:
    return {"provider": "fal", "model": "fal-ai/flux/dev", "prompt": "a cat", "seed": 7, **extra}


def _listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ------------------------------------------------------------------ naming


def test_slugify() -> None:
    assert slugify("Hello, World!") == "Hello-World-"
    assert slugify("café crème.png") == "cafe-creme.png"
    traversal = slugify("../../etc/passwd")
    assert "/" not in traversal
    assert not traversal.startswith(".")
    assert slugify("...hidden") == "hidden"
    assert slugify("日本") == ""
    assert slugify("a" * 200, max_len=10) == "a" * 10
    assert slugify("keep_this-one.2") == "keep_this-one.2"


def test_name_for_format(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, prefix="my photo", suffix="up", clock=_clock)
    assert (
        w.name_for(ident="abcdef123456-xyz", ext="png")
        == "my-photo_20250102-030405-abcdef12-up.png"
    )
    w2 = OutputWriter(tmp_path, prefix="cat-", clock=_clock)
    assert w2.name_for(ident="req/ü9", ext="jpg", role="-genfill", index=2) == (
        "cat-20250102-030405-req-u9-genfill-2.jpg"
    )
    w3 = OutputWriter(tmp_path, clock=_clock)
    assert w3.name_for(ident="", ext=".webp") == "20250102-030405-noid.webp"


def test_name_for_never_repeats(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    names = [w.name_for(ident="same", ext="png") for _ in range(5)]
    assert len(set(names)) == 5
    assert names[1] == "20250102-030405-same-2.png"


def test_naive_clock_is_treated_as_utc(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=lambda: datetime(2024, 5, 6, 7, 8, 9))
    assert w.name_for(ident="x", ext="png").startswith("20240506-070809-")


def test_directory_not_created_until_first_write(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    w = OutputWriter(out, clock=_clock)
    w.name_for(ident="r1", ext="png")
    assert not out.exists()
    media, _side = w.write(_png(), ident="r1", metadata=_meta())
    assert out.is_dir()
    assert media.parent == out


# ------------------------------------------------------------------ writing


def test_write_png_with_sidecar(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, prefix="in", clock=_clock)
    data = _png((16, 12))
    media, side = w.write(data, ident="req-123456789", metadata=_meta())
    assert media.name == "in_20250102-030405-req-1234.png"
    assert side.name == "in_20250102-030405-req-1234.json"
    record = json.loads(side.read_text(encoding="utf-8"))
    assert record["provider"] == "fal"
    assert record["prompt"] == "a cat"
    info = record["file"]
    assert info["path"] == media.name
    assert info["bytes"] == media.stat().st_size
    assert info["content_type"] == "image/png"
    assert (info["width"], info["height"]) == (16, 12)
    assert info["embedded_parameters"] is True
    assert info["content_credentials"] is False
    assert info["sha256"] == hashlib.sha256(media.read_bytes()).hexdigest()
    embedded = Image.open(media).info["parameters"]
    assert isinstance(embedded, str)
    assert json.loads(embedded) == {
        "prompt": "a cat",
        "model": "fal-ai/flux/dev",
        "provider": "fal",
        "seed": 7,
    }


def test_write_without_embedding_keeps_bytes(tmp_path: Path) -> None:
    data = _png()
    media, side = OutputWriter(tmp_path, embed=False).write(data, ident="x", metadata={})
    assert media.read_bytes() == data
    assert json.loads(side.read_text())["file"]["embedded_parameters"] is False


def test_extension_from_bytes_not_content_type(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    media, side = w.write(_jpeg(), ident="abc", metadata={}, content_type="image/png")
    assert media.suffix == ".jpg"
    info = json.loads(side.read_text())["file"]
    assert info["content_type"] == "image/jpeg"
    assert info["declared_content_type"] == "image/png"
    video, _ = w.write(_mp4(), ident="vid", metadata={}, content_type="image/jpeg")
    assert video.suffix == ".mp4"


def test_content_type_fallback_and_bin(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    media, side = w.write(b"opaque bytes", ident="a", metadata={}, content_type="video/webm")
    assert media.suffix == ".webm"
    assert json.loads(side.read_text())["file"]["width"] is None
    unknown, _ = w.write(b"opaque bytes", ident="b", metadata={})
    assert unknown.suffix == ".bin"


def test_c2pa_png_written_byte_identical(tmp_path: Path) -> None:
    png = _png()
    ihdr_end = 33
    body = b"\x00\x00\x00\x10jumb\x00\x00\x00\x08jumd"
    chunk = struct.pack(">I", len(body)) + b"caBX" + body
    chunk += struct.pack(">I", zlib.crc32(b"caBX" + body))
    signed = png[:ihdr_end] + chunk + png[ihdr_end:]
    media, side = OutputWriter(tmp_path).write(signed, ident="openai1", metadata=_meta())
    assert media.read_bytes() == signed
    info = json.loads(side.read_text())["file"]
    assert info["content_credentials"] is True
    assert info["embedded_parameters"] is False


def test_sidecar_never_holds_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "fal-secret-123456"
    monkeypatch.setenv("FAL_KEY", secret)
    meta = _meta(
        headers={"Authorization": f"Key {secret}"},
        note=f"sent with {secret}",
        nested=[{"key": secret}],
        prompt=f"a cat {secret}",
        path=Path("/tmp/x.png"),
        when=FIXED,
    )
    media, side = OutputWriter(tmp_path).write(_png(), ident="r", metadata=meta)
    text = side.read_text(encoding="utf-8")
    assert secret not in text
    assert secret.encode() not in media.read_bytes()
    record = json.loads(text)
    assert record["path"] == "/tmp/x.png"
    assert record["when"].startswith("2025-01-02T03:04:05")
    assert "***" in record["note"]


def test_sidecar_failure_removes_media(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = OutputWriter(tmp_path)

    def boom(obj: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer_mod, "_plain", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        w.write(_png(), ident="r", metadata={})
    assert _listing(tmp_path) == []


def test_32_distinct_idents_same_timestamp(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    for i in range(32):
        w.write(_png(), ident=f"{i:08d}-request", metadata=_meta(i=i))
    names = _listing(tmp_path)
    assert len([n for n in names if n.endswith(".png")]) == 32
    assert len([n for n in names if n.endswith(".json")]) == 32
    assert not [n for n in names if n.startswith(".")]


def test_32_same_ident_concurrent_threads(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(lambda i: w.write(_png(), ident="same-id", metadata=_meta(i=i)), range(32))
        )
    paths = {m for m, _s in results}
    sidecars = {s for _m, s in results}
    assert len(paths) == 32
    assert len(sidecars) == 32
    names = _listing(tmp_path)
    assert len(names) == 64
    for media, side in results:
        assert json.loads(side.read_text())["file"]["path"] == media.name


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "20250102-030405-abc.png").write_bytes(b"old")
    (tmp_path / "20250102-030405-abc-2.json").write_text("{}")
    media, _ = OutputWriter(tmp_path, clock=_clock).write(_png(), ident="abc", metadata={})
    assert media.name == "20250102-030405-abc-3.png"
    assert (tmp_path / "20250102-030405-abc.png").read_bytes() == b"old"


def test_write_async(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)

    async def main() -> list[tuple[Path, Path]]:
        return await asyncio.gather(
            *(w.write_async(_jpeg(), ident="same", metadata={}) for _ in range(8))
        )

    results = asyncio.run(main())
    assert len({m for m, _ in results}) == 8


def test_embedded_subset_looks_into_parameters() -> None:
    meta = {
        "provider": "fal",
        "endpoint": "fal-ai/flux/dev",
        "original_prompt": "raw",
        "final_prompt": "trigger, raw",
        "request_id": "abc",
        "parameters": {"seed": 0, "image_size": {"width": 10, "height": 20}},
        "big": "x" * 10_000,
    }
    sub = embedded_subset(meta)
    assert sub == {
        "prompt": "trigger, raw",
        "model": "fal-ai/flux/dev",
        "provider": "fal",
        "seed": 0,
        "size": {"width": 10, "height": 20},
        "request_id": "abc",
    }
    assert embedded_subset({"params": {"width": 3, "height": 4}})["size"] == "3x4"


# ------------------------------------------------------------------ streaming


def test_stream_commit(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, prefix="dl", clock=_clock)
    data = _jpeg((40, 30))
    with w.write_stream() as stream:
        for i in range(0, len(data), 100):
            stream.write(data[i : i + 100])
        media, side = stream.commit(ident="stream-req", metadata=_meta(), content_type="image/png")
    assert media.suffix == ".jpg"
    assert _listing(tmp_path) == sorted([media.name, side.name])
    info = json.loads(side.read_text())["file"]
    assert (info["width"], info["height"]) == (40, 30)
    assert info["embedded_parameters"] is True
    assert info["bytes"] == media.stat().st_size
    assert Image.open(media).size == (40, 30)


def test_stream_video(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    with w.write_stream() as stream:
        stream.write(_mp4())
        media, side = stream.commit(ident="v", metadata={})
    assert media.suffix == ".mp4"
    assert media.read_bytes() == _mp4()
    assert json.loads(side.read_text())["file"]["content_type"] == "video/mp4"


def test_stream_abort_on_exception_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    w = OutputWriter(out)
    with pytest.raises(ConnectionError), w.write_stream() as stream:
        stream.write(b"\x89PNG\r\n\x1a\npartial")
        raise ConnectionError("dropped")
    assert not out.exists() or _listing(out) == []


def test_stream_abort_explicit_and_without_commit(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path)
    stream = w.write_stream()
    stream.write(b"abc")
    stream.abort()
    stream.abort()  # idempotent
    with pytest.raises(ValueError, match="already"):
        stream.write(b"more")
    with w.write_stream() as s2:
        s2.write(b"never committed")
    assert _listing(tmp_path) == []


def test_stream_async(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)

    async def main() -> tuple[Path, Path]:
        with w.write_stream() as stream:
            await stream.write_async(_png())
            return await stream.commit_async(ident="a", metadata={})

    media, side = asyncio.run(main())
    assert media.exists()
    assert side.exists()


def test_outputs_get_the_mode_a_plain_write_would(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"x")
    media, side = OutputWriter(tmp_path).write(_png(), ident="m", metadata={"a": 1})
    with OutputWriter(tmp_path).write_stream() as stream:
        stream.write(_png())
        streamed, _ = stream.commit(ident="s", metadata={})
    for path in (media, side, streamed):
        # not the temporary file's private 0o600
        assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777, path


def test_check_writable_leaves_no_trace_and_names_the_problem(tmp_path: Path) -> None:
    from twat_genai.core.errors import UsageError
    from twat_genai.core.writer import check_writable

    check_writable(tmp_path / "a" / "b" / "c")  # creatable: fine, and nothing is left behind
    assert list(tmp_path.iterdir()) == []
    check_writable(tmp_path)  # an existing writable folder
    assert list(tmp_path.iterdir()) == []

    blocker = tmp_path / "photo.png"
    blocker.write_bytes(b"x")
    with pytest.raises(UsageError, match="not a folder: choose another --output_dir"):
        check_writable(blocker)
    with pytest.raises(UsageError, match=r"is under .*photo\.png, which is not a folder"):
        check_writable(blocker / "out")
    with pytest.raises(UsageError, match=r"cannot write to .* choose another --output_dir"):
        check_writable(tmp_path / "ok" / ("x" * 300))  # a name no file system accepts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]
