"""Output downloads stream to a temporary file on disk and appear only when complete: a failed
or oversized download leaves nothing behind. Real HTTP against the fal emulator."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai.core.errors import DownloadError
from twat_genai.core.models import ImageGenerationRequest, ProviderResponse
from twat_genai.core.writer import OutputWriter
from twat_genai.jobs import generate as generate_module
from twat_genai.jobs.generate import generate
from twat_genai.providers.fal import FalProvider
from twat_genai.transport.retry import RetryPolicy

pytestmark = pytest.mark.usefixtures("fal_env")


def _generate(out: Path, prompt: str) -> ProviderResponse:
    async def run() -> ProviderResponse:
        async with FalProvider() as provider:
            provider.fetcher.retry = RetryPolicy(attempts=2, base_delay=0.01)  # fail fast
            request = ImageGenerationRequest(
                prompt=prompt, model="fal-ai/flux-lora", size_preset="square"
            )
            return await generate(provider, request, OutputWriter(out))

    return asyncio.run(run())


def test_streamed_output_is_complete_with_its_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "out"
    response = _generate(out, "a lighthouse")
    (path,) = [f.path for f in response.files]
    assert path is not None
    with Image.open(path) as img:
        img.load()  # the whole image decodes: nothing was cut short
        size = img.size
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert (sidecar["result"]["width"], sidecar["result"]["height"]) == size
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name]
    )


def test_failed_download_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(DownloadError):
        _generate(out, "a lighthouse [emulate:broken_url]")
    assert not out.exists() or list(out.iterdir()) == []


def test_oversized_download_is_refused_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate_module, "MAX_DOWNLOAD_BYTES", 1000)
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="larger than 1000 bytes"):
        _generate(out, "a lighthouse")
    assert list(out.iterdir()) == []  # the partial download was removed


def test_cancelling_a_save_in_progress_keeps_the_event_loop_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from twat_genai.core import writer as writer_module
    from twat_genai.core.models import MediaFile
    from twat_genai.providers.base import CallContext, Capabilities, Provider

    png = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(png, "PNG")

    class Local(Provider):
        name = "local"
        capabilities = Capabilities(kinds=frozenset({"image"}))

        async def generate(self, request: Any, ctx: CallContext) -> ProviderResponse:
            return ProviderResponse(
                provider=self.name,
                model="m",
                request_id="r1",
                files=[MediaFile(data=png.getvalue(), content_type="image/png")],
            )

    started, release, ticked = threading.Event(), threading.Event(), threading.Event()
    original = writer_module.StreamingFile._commit

    def slow_commit(self: Any, **kw: Any) -> Any:
        started.set()
        release.wait(30)
        return original(self, **kw)

    monkeypatch.setattr(writer_module.StreamingFile, "_commit", slow_commit)
    order: list[str] = []

    def releaser() -> None:  # lets the commit go once the loop proved it is free (or at 10 s)
        order.append("loop free" if ticked.wait(10) else "loop blocked")
        release.set()

    async def run() -> None:
        async with Local(api_key="k") as provider:
            request = ImageGenerationRequest(prompt="x")
            task = asyncio.ensure_future(generate(provider, request, OutputWriter(tmp_path)))
            await asyncio.to_thread(started.wait, 30)  # the commit is under way
            threading.Thread(target=releaser).start()
            task.cancel()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            ticked.set()  # runs only if cancelling did not block the loop thread
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert order == ["loop free"]
    names = sorted(p.suffix for p in tmp_path.iterdir())
    assert names == [".json", ".png"]  # the commit under way completed: file and sidecar
