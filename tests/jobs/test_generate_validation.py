"""An output that is empty or not an image/video is refused, whatever the provider said about
it: a typed ModelError naming the provider, the model and what came back, and nothing on disk.
Real HTTP against the emulators; each test corrupts one answer on its way out."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.errors import ModelError
from twat_genai.core.models import ImageGenerationRequest, ProviderResponse
from twat_genai.core.writer import OutputWriter
from twat_genai.jobs.generate import generate
from twat_genai.providers.base import Provider
from twat_genai.providers.chutes import ChutesProvider
from twat_genai.providers.fal import FalProvider
from twat_genai.providers.gemini import GeminiProvider
from twat_genai.providers.openai import OpenAIProvider
from twat_genai.testing import EmulatorServer
from twat_genai.testing.chutes import DUMMY_KEY
from twat_genai.testing.server import EmulatorRequest, EmulatorResponse

pytestmark = pytest.mark.usefixtures("fal_env")  # NO_PROXY, a fal key, cwd = tmp_path

HTML = b"<!DOCTYPE html><html><body>upstream error</body></html>"
#: Bytes that are neither text nor any media format.
BINARY = bytes(range(256)) * 4

Rewrite = Callable[[EmulatorResponse], EmulatorResponse]


def _corrupt(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, prefix: str, rewrite: Rewrite
) -> None:
    """Answers of the app at ``prefix`` pass through ``rewrite`` (for this test only)."""
    app = emulator.apps[prefix]
    original: Callable[[EmulatorRequest], Awaitable[EmulatorResponse]] = app.handle

    async def handle(req: EmulatorRequest) -> EmulatorResponse:
        return rewrite(await original(req))

    monkeypatch.setattr(app, "handle", handle)


def _serve_as_files(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, data: bytes) -> None:
    """Every file the emulator stores from now on (fal's outputs) holds ``data`` instead,
    still served under its declared image type."""
    put = emulator.files.put

    def corrupted(_data: bytes, content_type: str, *args: Any, **kw: Any) -> str:
        return put(data, content_type, *args, **kw)

    monkeypatch.setattr(emulator.files, "put", corrupted)


def _run(provider: Provider, request: ImageGenerationRequest, out: Path) -> ProviderResponse:
    async def run() -> ProviderResponse:
        async with provider:
            return await generate(provider, request, OutputWriter(out))

    return asyncio.run(run())


def _nothing_on_disk(out: Path) -> None:
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []


# --------------------------------------------------------------------------- fal downloads


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "returned 0 bytes"),
        (HTML, "returned text/html"),
        (b'{"detail": "quota exceeded"}', "returned application/json"),
        (BINARY, "returned unrecognised data"),
    ],
    ids=["empty", "html", "json", "binary"],
)
def test_fal_download_that_is_not_an_image_is_refused(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    body: bytes,
    said: str,
) -> None:
    _serve_as_files(monkeypatch, emulator, body)
    out = tmp_path / "out"
    request = ImageGenerationRequest(prompt="a lighthouse", model="fal-ai/flux-lora")
    with pytest.raises(ModelError, match=said) as info:
        _run(FalProvider(), request, out)
    message = str(info.value)
    assert message.startswith("fal: fal-ai/flux-lora returned ")
    assert message.endswith(", not an image") or "upstream error" in message
    assert info.value.provider == "fal" and info.value.request_id
    _nothing_on_disk(out)  # the streamed temporary file is gone too


def test_text_answer_is_quoted_in_the_error(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _serve_as_files(monkeypatch, emulator, HTML)
    request = ImageGenerationRequest(prompt="a lighthouse", model="fal-ai/flux-lora")
    with pytest.raises(ModelError, match="upstream error"):
        _run(FalProvider(), request, tmp_path / "out")


def test_fal_normal_download_is_still_saved(emulator: EmulatorServer, tmp_path: Path) -> None:
    request = ImageGenerationRequest(prompt="a lighthouse", model="fal-ai/flux-lora")
    response = _run(FalProvider(), request, tmp_path / "out")
    (file,) = response.files
    assert file.path is not None and file.path.suffix == ".jpg"


# --------------------------------------------------------------------------- bytes in hand


def _openai_b64(data: bytes) -> Rewrite:
    def rewrite(resp: EmulatorResponse) -> EmulatorResponse:
        body = json.loads(resp.body)
        for item in body.get("data") or []:
            item["b64_json"] = base64.b64encode(data).decode()
        resp.body = json.dumps(body).encode()
        return resp

    return rewrite


def _gemini_inline(data: bytes) -> Rewrite:
    def rewrite(resp: EmulatorResponse) -> EmulatorResponse:
        body = json.loads(resp.body)
        for cand in body.get("candidates") or []:
            for part in cand.get("content", {}).get("parts") or []:
                if "inlineData" in part:
                    part["inlineData"]["data"] = base64.b64encode(data).decode()
        resp.body = json.dumps(body).encode()
        return resp

    return rewrite


def _chutes_raw(data: bytes) -> Rewrite:
    def rewrite(resp: EmulatorResponse) -> EmulatorResponse:
        resp.body = data  # the declared image/jpeg stays
        return resp

    return rewrite


def _openai(root: str) -> Provider:
    return OpenAIProvider(api_key="sk-test-validation-0123456789", base_url=f"{root}/openai/v1")


def _gemini(root: str) -> Provider:
    return GeminiProvider(api_key="gemini-validation-0123456789", base_url=f"{root}/gemini")


def _chutes(root: str) -> Provider:
    return ChutesProvider(api_key=DUMMY_KEY, base_url=f"{root}/chutes")


@dataclass(frozen=True)
class Case:
    """One provider whose answers carry the bytes: how to reach it and how to corrupt them."""

    name: str
    prefix: str
    make: Callable[[str], Provider]
    rewrite: Callable[[bytes], Rewrite]
    model: str

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("openai", "/openai", _openai, _openai_b64, "gpt-image-1.5"),
    Case("gemini", "/gemini", _gemini, _gemini_inline, "nano"),
    Case("chutes", "/chutes", _chutes, _chutes_raw, "FLUX.1-dev"),
]


@pytest.mark.parametrize(
    "answer",
    [
        # An empty base64 string is no image at all to OpenAI and Gemini; a raw body is 0 bytes.
        (b"", "returned 0 bytes|returned no file|no image returned"),
        (HTML, "returned text/html"),
        (BINARY, "returned unrecognised data"),
    ],
    ids=["empty", "html", "binary"],
)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bytes_in_hand_that_are_not_an_image_are_refused(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    case: Case,
    answer: tuple[bytes, str],
) -> None:
    body, said = answer
    _corrupt(monkeypatch, emulator, case.prefix, case.rewrite(body))
    out = tmp_path / "out"
    request = ImageGenerationRequest(prompt="a lighthouse", model=case.model)
    with pytest.raises(ModelError, match=said) as info:
        _run(case.make(emulator.root), request, out)
    assert str(info.value).startswith(f"{case.name}: ") and info.value.provider == case.name
    _nothing_on_disk(out)


def test_empty_chutes_body_labelled_as_an_image_is_refused(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``200 image/jpeg`` with an empty body: refused, by the bytes, with the model named."""
    _corrupt(monkeypatch, emulator, "/chutes", _chutes_raw(b""))
    out = tmp_path / "out"
    request = ImageGenerationRequest(prompt="a lighthouse", model="FLUX.1-dev")
    with pytest.raises(ModelError) as info:
        _run(_chutes(emulator.root), request, out)
    assert str(info.value) == "chutes: FLUX.1-dev returned 0 bytes, not an image or video"
    _nothing_on_disk(out)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bytes_in_hand_normal_outputs_are_saved(
    emulator: EmulatorServer, tmp_path: Path, case: Case
) -> None:
    request = ImageGenerationRequest(prompt="a lighthouse", model=case.model)
    response = _run(case.make(emulator.root), request, tmp_path / "out")
    (file,) = response.files
    assert file.path is not None and file.path.exists()
    assert file.path.suffix in (".png", ".jpg", ".webp")


def test_one_bad_file_among_good_ones_is_left_out_with_a_warning(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The good files of a paid answer are kept; the bad one is named in every sidecar."""

    def rewrite(resp: EmulatorResponse) -> EmulatorResponse:
        body = json.loads(resp.body)
        body["data"][-1]["b64_json"] = base64.b64encode(HTML).decode()
        resp.body = json.dumps(body).encode()
        return resp

    _corrupt(monkeypatch, emulator, "/openai", rewrite)
    out = tmp_path / "out"
    request = ImageGenerationRequest(prompt="a lighthouse", model="gpt-image-2", n=3)
    response = _run(_openai(emulator.root), request, out)
    saved = [f.path for f in response.files if f.path is not None]
    assert len(saved) == 2 and sorted(p.suffix for p in out.iterdir()) == [
        ".json",
        ".json",
        ".png",
        ".png",
    ]
    for path in saved:
        warnings = json.loads(path.with_suffix(".json").read_text())["warnings"]
        assert any("not saved" in w and "text/html" in w for w in warnings)


def test_an_answer_with_no_media_at_all_is_refused(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def rewrite(resp: EmulatorResponse) -> EmulatorResponse:
        body = json.loads(resp.body)
        for item in body["data"]:
            item["b64_json"] = base64.b64encode(HTML).decode()
        resp.body = json.dumps(body).encode()
        return resp

    _corrupt(monkeypatch, emulator, "/openai", rewrite)
    out = tmp_path / "out"
    request = ImageGenerationRequest(prompt="a lighthouse", model="gpt-image-1.5", n=2)
    with pytest.raises(ModelError, match="returned text/html"):
        _run(_openai(emulator.root), request, out)
    _nothing_on_disk(out)
