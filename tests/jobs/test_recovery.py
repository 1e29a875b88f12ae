"""A result that was paid for is not lost to a download that breaks: it is fetched again in the
same run (a cut connection, a body shorter than declared or than the image, a 5xx, a 429 that
says when), a short body is never saved, and the summary counts what was tried again. A 404 is
not worth another try. Real HTTP against a file server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import io
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from twat_genai.core.errors import DownloadError
from twat_genai.core.models import ImageGenerationRequest, MediaFile, ProviderResponse
from twat_genai.jobs.pipeline import Job, RunOptions, run_jobs
from twat_genai.providers.base import CallContext, Capabilities, Provider
from twat_genai.transport.retry import RetryPolicy

PNG = io.BytesIO()
Image.effect_noise((256, 256), 64).convert("RGB").save(PNG, "PNG")
DATA = PNG.getvalue()


@asynccontextmanager
async def file_server(plan: list[str]) -> AsyncIterator[tuple[str, list[str]]]:
    """Serves :data:`DATA` at ``/f.png``, misbehaving as ``plan`` says, one step per request
    (the last step repeats): ``ok``, ``cut`` (declares the whole length, sends half, resets),
    ``short`` (declares and sends half: looks whole to HTTP), ``503``, ``429``, ``404``."""
    served: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        step = plan[min(len(served), len(plan) - 1)]
        served.append(step)
        half = DATA[: len(DATA) // 2]
        if step in ("503", "429", "404"):
            extra = "Retry-After: 0\r\n" if step != "404" else ""
            writer.write(f"HTTP/1.1 {step} X\r\n{extra}Content-Length: 0\r\n\r\n".encode())
        elif step == "short":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(half)}\r\n\r\n".encode() + half)
        else:
            body = DATA if step == "ok" else half
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(DATA)}\r\n\r\n".encode() + body)
        await writer.drain()
        if step == "cut":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/f.png", served
    finally:
        srv.close()


class Finished(Provider):
    """A provider whose job is done and paid for: it answers with the file's URL."""

    name = "finished"
    catalog_file = None
    capabilities: ClassVar[Capabilities] = Capabilities(kinds=frozenset({"image"}))
    url: ClassVar[str] = ""

    async def generate(self, request: Any, ctx: CallContext) -> ProviderResponse:
        return ProviderResponse(
            provider=self.name,
            model="m",
            request_id="job-1",
            files=[MediaFile(url=self.url, content_type="image/png")],
        )


def run(plan: list[str], out: Path) -> tuple[Any, list[str]]:
    async def go() -> tuple[Any, list[str]]:
        async with file_server(plan) as (url, served):
            Finished.url = url
            async with Finished(api_key="k") as provider:
                provider.fetcher.retry = RetryPolicy(attempts=1)  # the job layer retries
                job = Job(ImageGenerationRequest(prompt="a cat"))
                summary = await run_jobs(provider, [job], RunOptions(output_dir=out))
        return summary, served

    return asyncio.run(go())


def only_whole_images(out: Path) -> list[Path]:
    files = sorted(p for p in out.iterdir() if p.suffix == ".png")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        n for p in files for n in (p.name, p.with_suffix(".json").name)
    )  # nothing partial or temporary beside them
    for path in files:
        assert path.stat().st_size >= len(DATA)
        with Image.open(path) as img:
            img.load()
    return files


@pytest.mark.parametrize("fault", ["cut", "short", "503", "429"])
def test_a_paid_download_that_fails_once_is_fetched_again(tmp_path: Path, fault: str) -> None:
    summary, served = run([fault, "ok"], tmp_path)
    assert [o.status for o in summary.outcomes] == ["ok"], summary.outcomes[0].message
    assert served == [fault, "ok"]
    assert len(only_whole_images(tmp_path)) == 1
    assert summary.stats["download_recovered"] == 1
    assert summary.stats["retry"] == 1
    assert "1 downloads fetched again" in summary.line()


def test_a_download_that_keeps_breaking_fails_with_its_cause_and_saves_nothing(
    tmp_path: Path,
) -> None:
    summary, served = run(["short"], tmp_path)
    (outcome,) = summary.outcomes
    assert outcome.status == "failed"
    assert isinstance(outcome.error, DownloadError)
    assert "was cut short" in outcome.message
    assert len(served) == 4  # bounded
    assert only_whole_images(tmp_path) == []


def test_a_missing_file_is_not_fetched_again(tmp_path: Path) -> None:
    summary, served = run(["404"], tmp_path)
    assert summary.outcomes[0].status == "failed"
    assert "HTTP 404" in summary.outcomes[0].message
    assert served == ["404"]
