"""Tests for twat_genai.core.writer: names, atomicity, sidecars, streaming."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import stat
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from PIL import Image

from twat_genai.core import files as files_mod
from twat_genai.core import writer as writer_mod
from twat_genai.core.naming import slugify
from twat_genai.core.writer import STALE_TEMP_SECONDS, OutputWriter, embedded_subset

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
    """``{prefix}{slug}-{id8}{suffix}{role}{-N}``: the slug of the prompt, the request id's
    start; no timestamp (the sidecar holds the time)."""
    w = OutputWriter(tmp_path, prefix="my photo", suffix="up", clock=_clock)
    assert (
        w.name_for(ident="abcdef123456-xyz", ext="png", fields={"prompt": "A red car!"})
        == "my-photo_a-red-car-abcdef12-up.png"
    )
    w2 = OutputWriter(tmp_path, prefix="cat-", clock=_clock)
    assert w2.name_for(ident="req/ü9", ext="jpg", role="-genfill", index=2) == (
        "cat-req-u9-genfill-2.jpg"
    )
    w3 = OutputWriter(tmp_path, clock=_clock)
    assert w3.name_for(ident="", ext=".webp") == "noid.webp"


def test_prompt_slugs_are_short_and_cut_at_a_word(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    long = "A majestic lion resting under an acacia tree at golden hour, cinematic"
    name = w.name_for(ident="6e910bdb-aaaa", ext="jpg", fields={"prompt": long})
    assert name == "a-majestic-lion-resting-under-an-acacia-6e910bdb.jpg"
    assert (
        w.name_for(ident="x", ext="png", fields={"prompt": "café déjà vu"}) == "cafe-deja-vu-x.png"
    )


def test_the_input_name_as_prefix_is_not_repeated(tmp_path: Path) -> None:
    """An upscale of photo.png is ``photo_<id>``, not ``photo_photo-<id>``."""
    w = OutputWriter(tmp_path, prefix="photo")
    assert (
        w.name_for(ident="abc123456", ext="png", fields={"prompt": "photo"}) == "photo_abc12345.png"
    )


def test_name_template_fields(tmp_path: Path) -> None:
    """``--name`` replaces ``{slug}-{id8}``; prefix and suffix still wrap it."""
    w = OutputWriter(
        tmp_path,
        prefix="p",
        suffix="s",
        clock=_clock,
        template="{index}-{seed}-{model}-{date}-{id}-{prompt}",
    )
    fields = {"prompt": "Two Cats", "index": 7, "seed": 42, "model": "fal-ai/flux/dev"}
    assert w.name_for(ident="req123456", ext="png", fields=fields) == (
        "p_7-42-dev-20250102-req12345-two-cats-s.png"
    )


@pytest.mark.parametrize("template", ["{nope}", "plain", "{prompt"])
def test_bad_name_templates_are_usage_errors(tmp_path: Path, template: str) -> None:
    from twat_genai.core.errors import UsageError

    with pytest.raises(UsageError, match="--name"):
        OutputWriter(tmp_path, template=template)


def test_name_for_never_repeats(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    names = [w.name_for(ident="same", ext="png") for _ in range(5)]
    assert len(set(names)) == 5
    assert names[1] == "same-2.png"


def test_naive_clock_is_treated_as_utc(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=lambda: datetime(2024, 5, 6, 23, 8, 9), template="{date}")
    assert w.name_for(ident="x", ext="png") == "20240506.png"


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
    assert media.name == "in_req-1234.png"
    assert side.name == "in_req-1234.json"
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
    with Image.open(media) as image:
        embedded = image.info["parameters"]
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

    monkeypatch.setattr(writer_mod, "plain_copy", boom)
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
    (tmp_path / "abc.png").write_bytes(b"old")
    (tmp_path / "abc-2.json").write_text("{}")
    media, _ = OutputWriter(tmp_path, clock=_clock).write(_png(), ident="abc", metadata={})
    assert media.name == "abc-3.png"
    assert (tmp_path / "abc.png").read_bytes() == b"old"


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
    with Image.open(media) as image:
        assert image.size == (40, 30)


def test_a_small_download_stays_in_memory_and_reaches_the_disk_once_whole(tmp_path: Path) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    data = _jpeg((40, 30))
    with w.write_stream() as stream:
        stream.write(data)
        assert _listing(tmp_path) == []  # no temporary file for what the head holds
        media, side = stream.commit(ident="small", metadata=_meta())
    assert _listing(tmp_path) == sorted([media.name, side.name])
    assert json.loads(side.read_text())["file"]["embedded_parameters"] is True


def test_a_large_download_goes_on_into_a_temporary_file(tmp_path: Path) -> None:
    """Past the head kept in memory the bytes go to disk; the file saved is whole, in order,
    stamped with its parameters; an aborted one leaves nothing."""
    w = OutputWriter(tmp_path, clock=_clock)
    noisy = Image.effect_noise((900, 900), 64).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    assert len(data) > 2 * 256 * 1024
    with w.write_stream() as stream:
        for i in range(0, len(data), 64 * 1024):
            stream.write(data[i : i + 64 * 1024])
        assert [p.name.startswith(".download.twat-tmp-") for p in tmp_path.iterdir()] == [True]
        media, side = stream.commit(ident="large", metadata=_meta())
    info = json.loads(side.read_text())["file"]
    assert info["embedded_parameters"] is True and info["bytes"] == media.stat().st_size
    with Image.open(media) as image:
        assert image.size == (900, 900)
        image.load()  # every byte is there, in order
    assert _listing(tmp_path) == sorted([media.name, side.name])
    with w.write_stream() as stream:
        stream.write(data)
        stream.abort()
    assert _listing(tmp_path) == sorted([media.name, side.name])


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


# ------------------------------------------------------------------ the umask


def _umask_must_not_change(mask: int) -> int:
    raise AssertionError(f"os.umask({mask:#o}) changed the process umask (other threads race)")


def test_the_umask_is_read_without_changing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nUmask:\t0027\nState:\tR (running)\n")
    monkeypatch.setattr(files_mod, "_PROC_STATUS", status, raising=False)
    monkeypatch.setattr(os, "umask", _umask_must_not_change)
    assert files_mod._file_mode() == 0o640


@pytest.mark.parametrize("status_text", [None, "Name:\tpython\nState:\tR (running)\n"])
def test_without_a_umask_line_the_umask_is_read_by_setting_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status_text: str | None
) -> None:
    """No /proc (macOS, Windows) or a kernel older than 4.7: the portable fallback."""
    status = tmp_path / "status"
    if status_text is not None:
        status.write_text(status_text)
    monkeypatch.setattr(files_mod, "_PROC_STATUS", status)
    before = os.umask(0o077)
    try:
        assert files_mod._file_mode() == 0o600
        assert os.umask(before) == 0o077  # left as it was
    finally:
        os.umask(before)


# ------------------------------------------------------------------ check_writable races


def test_check_writable_accepts_and_keeps_a_folder_another_run_makes_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twat_genai.core.writer import check_writable

    target = tmp_path / "a" / "b" / "c"
    real_mkdir = Path.mkdir
    raced: list[Path] = []

    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        if self == tmp_path / "a" and not raced:
            # Another run, between our existence probe and our mkdir, makes a/b for itself.
            raced.append(self)
            (tmp_path / "a" / "b").mkdir(parents=True)
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    check_writable(target)  # no "File exists"
    assert raced
    # Ours (c) is gone; the other run's folders stay.
    assert (tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []


# ------------------------------------------------------------------ commit vs abort


class _TellingLock:
    """A lock that says when a thread has to wait for it."""

    def __init__(self, on_wait: threading.Event) -> None:
        self._lock = threading.Lock()
        self._on_wait = on_wait

    def __enter__(self) -> _TellingLock:
        if not self._lock.acquire(blocking=False):
            self._on_wait.set()
            self._lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()


def _whole(listing: list[str]) -> bool:
    """A file with its sidecar, or nothing (no temporary file either)."""
    if listing == []:
        return True
    if len(listing) != 2 or any(name.startswith(".") for name in listing):
        return False
    media, sidecar = sorted(listing, key=lambda n: n.endswith(".json"))
    return sidecar == Path(media).with_suffix(".json").name


@pytest.mark.parametrize("held_in", ["naming", "sidecar"])
def test_a_cancelled_commit_and_the_abort_on_exit_leave_a_whole_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held_in: str
) -> None:
    """The awaiting task is cancelled while ``commit_async`` runs in its thread; the ``with``
    exit aborts meanwhile. Whenever the abort returns, the folder holds a whole result."""
    w = OutputWriter(tmp_path, clock=_clock)
    in_commit, release, abort_waits_or_returned = (threading.Event() for _ in range(3))

    def held(method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            in_commit.set()
            release.wait()
            return method(*args, **kwargs)

        return wrapper

    if held_in == "naming":  # before the rename
        monkeypatch.setattr(w, "name_for", held(w.name_for))
    else:  # after the rename, before the sidecar
        monkeypatch.setattr(w, "_write_sidecar", held(w._write_sidecar))
    at_abort_return: list[list[str]] = []

    async def download() -> None:
        try:
            with w.write_stream() as stream:
                # raising=False: an unfixed writer has no lock to watch, and then the abort
                # returns at once (and the test sees what it left).
                monkeypatch.setattr(
                    stream, "_lock", _TellingLock(abort_waits_or_returned), raising=False
                )
                stream.write(_png())
                await stream.commit_async(ident="c", metadata=_meta())
        finally:
            at_abort_return.append(_listing(tmp_path))
            abort_waits_or_returned.set()

    def release_the_commit_once_the_abort_is_in() -> None:
        abort_waits_or_returned.wait()
        release.set()

    async def main() -> None:
        task = asyncio.create_task(download())
        await asyncio.to_thread(in_commit.wait)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    helper = threading.Thread(target=release_the_commit_once_the_abort_is_in)
    helper.start()
    try:
        asyncio.run(main())  # also waits for the commit's worker thread
    finally:
        release.set()
        helper.join()
    assert _whole(at_abort_return[0]), at_abort_return
    assert _whole(_listing(tmp_path)), _listing(tmp_path)
    # The commit went through (the abort found it done), with its sidecar.
    assert len(_listing(tmp_path)) == 2


def test_abort_from_another_thread_waits_for_a_running_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    in_commit, release, abort_waits_or_returned = (threading.Event() for _ in range(3))
    real_sidecar = w._write_sidecar

    def sidecar_on_release(*args: Any, **kwargs: Any) -> Path:
        in_commit.set()
        release.wait()
        return real_sidecar(*args, **kwargs)

    monkeypatch.setattr(w, "_write_sidecar", sidecar_on_release)
    stream = w.write_stream()
    monkeypatch.setattr(stream, "_lock", _TellingLock(abort_waits_or_returned), raising=False)
    stream.write(_mp4())
    at_abort_return: list[list[str]] = []

    def abort() -> None:
        stream.abort()
        at_abort_return.append(_listing(tmp_path))
        abort_waits_or_returned.set()

    with ThreadPoolExecutor(2) as pool:
        committed = pool.submit(stream.commit, ident="v", metadata={})
        in_commit.wait()
        aborted = pool.submit(abort)
        abort_waits_or_returned.wait()
        release.set()
        media, side = committed.result()
        aborted.result()
    assert at_abort_return == [sorted([media.name, side.name])]
    assert _listing(tmp_path) == sorted([media.name, side.name])


# ------------------------------------------------------------------ durability


def _record_directory_syncs(
    monkeypatch: pytest.MonkeyPatch, directory: Path
) -> tuple[list[list[str]], list[int]]:
    """Wrap os.fsync: for each fsync of ``directory`` itself, what it then held."""
    real_fsync = os.fsync
    here = directory.stat()
    synced: list[list[str]] = []
    all_calls: list[int] = []

    def fsync(fd: int) -> None:
        all_calls.append(fd)
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino):
            synced.append(_listing(directory))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced, all_calls


def test_fsync_makes_the_new_names_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced, _ = _record_directory_syncs(monkeypatch, tmp_path)
    media, side = OutputWriter(tmp_path, clock=_clock, fsync=True).write(
        _png(), ident="d", metadata=_meta()
    )
    # The folder is synced once the media file has its final name, and again for the sidecar.
    assert [media.name] in synced
    assert sorted([media.name, side.name]) in synced
    assert synced[-1] == sorted([media.name, side.name])


def test_without_fsync_nothing_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced, calls = _record_directory_syncs(monkeypatch, tmp_path)
    OutputWriter(tmp_path, clock=_clock).write(_png(), ident="d", metadata=_meta())
    assert (synced, calls) == ([], [])


def test_a_folder_that_cannot_be_opened_is_not_synced_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows cannot open a directory: the write still succeeds (files are still synced)."""
    real_open = os.open

    def no_directories(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).is_dir():
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_directories)
    synced, calls = _record_directory_syncs(monkeypatch, tmp_path)
    media, side = OutputWriter(tmp_path, clock=_clock, fsync=True).write(
        _png(), ident="d", metadata=_meta()
    )
    assert media.exists()
    assert side.exists()
    assert synced == []
    assert calls  # the files themselves were


# ------------------------------------------------------------------ leftovers of killed runs


def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    long_ago = time.time() - STALE_TEMP_SECONDS - 60
    stale = [
        ".download.tmp-abcd1234",  # a streamed download
        "..download.tmp-abcd1234.tmp-zz99_y88",  # its parameters being embedded
        ".20250102-030405-abcdef12.png.tmp-x1y2z3_4",  # an atomic write of a media file
        ".cat_20250102-030405-req-u9-genfill-2.json.tmp-00000000",  # ... and of a sidecar
    ]
    foreign = [
        "notes.txt",
        ".bashrc",
        ".cache.tmp-abcd1234",  # someone else's temporary file
        "photo.png.tmp-abcd1234",
        ".download.tmp-abcd1234.part",
        ".download.tmp-abc",
    ]
    for name in stale + foreign:
        (tmp_path / name).write_bytes(b"x" * 10)
        os.utime(tmp_path / name, (long_ago, long_ago))
    fresh = ".download.tmp-fresh123"  # a live download elsewhere: written just now
    (tmp_path / fresh).write_bytes(b"partial")
    folder = tmp_path / ".download.tmp-folder12"  # not a file
    folder.mkdir()
    os.utime(folder, (long_ago, long_ago))
    nested = tmp_path / "sub" / ".download.tmp-abcd1234"  # not this folder
    nested.parent.mkdir()
    nested.write_bytes(b"x")
    os.utime(nested, (long_ago, long_ago))
    link = tmp_path / ".download.tmp-link1234"
    link.symlink_to(tmp_path / "notes.txt")
    os.utime(link, (long_ago, long_ago), follow_symlinks=False)

    media, side = OutputWriter(tmp_path, clock=_clock).write(_png(), ident="n", metadata={})

    assert _listing(tmp_path) == sorted(
        [*foreign, fresh, folder.name, "sub", link.name, media.name, side.name]
    )
    assert nested.exists()
    assert (tmp_path / "notes.txt").exists()


def test_stale_temporary_files_are_looked_for_when_the_folder_is_first_used(
    tmp_path: Path,
) -> None:
    w = OutputWriter(tmp_path, clock=_clock)
    leftover = tmp_path / ".download.tmp-abcd1234"
    leftover.write_bytes(b"x")
    long_ago = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(leftover, (long_ago, long_ago))
    with w.write_stream() as stream:  # a download starting, not only a finished write
        assert not leftover.exists()
        stream.write(_mp4())
        stream.commit(ident="v", metadata={})


def test_a_name_with_thousands_of_copies_costs_a_few_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind 2,000 taken copies the next name is found by doubling and halving (about two
    dozen checks), and the name after it by one."""
    (tmp_path / "cat.png").write_bytes(b"")
    for n in range(2, 2001):
        (tmp_path / f"cat-{n}.png").write_bytes(b"")
    w = OutputWriter(tmp_path, clock=_clock)
    checks: list[str] = []
    real = w._stem_free

    def counted(directory: Path, stem: str, ext: str) -> bool:
        checks.append(stem)
        return real(directory, stem, ext)

    monkeypatch.setattr(w, "_stem_free", counted)
    assert w.name_for(ident="cat", ext="png") == "cat-2001.png"
    assert len(checks) <= 30
    checks.clear()
    assert w.name_for(ident="cat", ext="png") == "cat-2002.png"
    assert checks == ["cat-2002"]
