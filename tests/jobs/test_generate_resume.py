"""Re-attaching to a fal job after a kill, file by file: a file whose name was recorded is
written under that same name (or kept when complete), never saved a second time. Real HTTP
against the fal emulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.models import ImageGenerationRequest
from twat_genai.core.writer import OutputWriter
from twat_genai.jobs.generate import generate
from twat_genai.providers.base import CallContext
from twat_genai.providers.fal import FalProvider
from twat_genai.testing import EmulatorServer


def _stats(emulator: EmulatorServer) -> dict[str, Any]:
    stats: dict[str, Any] = emulator.stats.snapshot()
    return stats


def _first_run(out: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Run a two-image job; return its handle and the files recorded as they were named."""
    handles: list[dict[str, Any]] = []
    files: dict[str, str] = {}

    def event(name: str, data: dict[str, Any]) -> None:
        if name == "saving":
            files[data["file"]] = data["path"]

    async def run() -> None:
        async with FalProvider() as provider:
            request = ImageGenerationRequest(prompt="a fox", model="fal-ai/flux-lora", n=2)
            ctx = CallContext(on_submitted=handles.append, on_event=event)
            await generate(provider, request, OutputWriter(out), ctx=ctx)

    asyncio.run(run())
    assert len(handles) == 1 and len(files) == 2
    return handles[0], files


def _resume(out: Path, handle: dict[str, Any], files: dict[str, str]) -> list[Path]:
    async def run() -> list[Path]:
        async with FalProvider() as provider:
            request = ImageGenerationRequest(prompt="a fox", model="fal-ai/flux-lora", n=2)
            ctx = CallContext(resume=handle, files=files)
            response = await generate(provider, request, OutputWriter(out), ctx=ctx)
            return [f.path for f in response.files if f.path is not None]

    return asyncio.run(run())


@pytest.mark.usefixtures("fal_env")
def test_reattached_job_rewrites_only_the_unfinished_file_under_its_recorded_name(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    handle, files = _first_run(out)
    first, second = (Path(p) for p in files.values())
    # Killed while writing the second file: its sidecar never landed, its image is stale.
    second.with_suffix(".json").unlink()
    second.write_bytes(b"partial")
    before = set(out.iterdir())
    downloads = _stats(emulator)["downloads"]

    paths = _resume(out, handle, files)

    assert paths == [first, second]  # the recorded names, in order
    assert set(out.iterdir()) == before | {second.with_suffix(".json")}  # no third image
    assert second.read_bytes() != b"partial" and second.read_bytes()[:4] in (
        b"\x89PNG",
        b"\xff\xd8\xff\xe0",
    )
    stats = _stats(emulator)
    assert stats["submissions"] == 1  # re-attached, not submitted again
    assert stats["downloads"] == downloads + 1  # the complete file was not fetched again


@pytest.mark.usefixtures("fal_env")
def test_reattached_job_with_no_recorded_files_saves_each_once(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    handle, _ = _first_run(tmp_path / "elsewhere")
    paths = _resume(out, handle, {})
    assert len(paths) == 2 and all(p.parent == out for p in paths)
    assert _stats(emulator)["submissions"] == 1
