"""Output downloads stream to a temporary file on disk and appear only when complete: a failed
or oversized download leaves nothing behind. Real HTTP against the fal emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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
