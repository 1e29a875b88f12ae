"""Bad values through the Python API: the project's UsageError (a ValueError), one line naming
the field, the pydantic error as its cause where pydantic found it; nothing sent, nothing
written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import twat_genai
from twat_genai import (
    ChutesClient,
    EngineConfig,
    FALEngine,
    GeminiImageClient,
    ModelTypes,
    OpenAIImageClient,
    TwatGenAiCLI,
)
from twat_genai.core.errors import UsageError
from twat_genai.testing import EmulatorServer


@pytest.fixture
def out(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every provider pointed at the emulator; cwd = tmp_path; the (not yet existing) output
    folder to pass."""
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "out"


def _fal(call: Callable[[FALEngine], Any], out: Path) -> Callable[[], Any]:
    async def run() -> Any:
        async with FALEngine(output_dir=out) as engine:
            return await call(engine)

    return lambda: asyncio.run(run())


CASES: dict[str, tuple[Callable[[Path], Callable[[], Any]], str, bool]] = {
    # name: (call, the field named in the message, whether pydantic found it)
    "generate-num_images-0": (
        lambda out: (
            lambda: twat_genai.generate(
                "a cat", model="fal-ai/flux-lora", num_images=0, output_dir=out
            )
        ),
        "num_images",
        True,
    ),
    "generate-seed-string": (
        lambda out: (
            lambda: twat_genai.generate(
                "a cat", model="fal-ai/flux-lora", seed="abc", output_dir=out
            )
        ),
        "seed",
        True,
    ),
    "generate-unknown-image_size": (
        lambda out: (
            lambda: twat_genai.generate(
                "a cat", model="fal-ai/flux-lora", image_size="huge", output_dir=out
            )
        ),
        "image size 'huge'",
        False,
    ),
    "generate-negative-size": (
        lambda out: (
            lambda: twat_genai.generate(
                "a cat", model="fal-ai/flux-lora", image_size=(-5, 10), output_dir=out
            )
        ),
        "between 1 and",
        False,
    ),
    "generate-concurrency-0": (
        lambda out: (
            lambda: twat_genai.generate(
                "a cat", model="fal-ai/flux-lora", concurrency=0, output_dir=out
            )
        ),
        "concurrency",
        False,
    ),
    "generate_video-fps-string": (
        lambda out: lambda: twat_genai.generate_video("waves", fps="fast", output_dir=out),
        "fps",
        True,
    ),
    "fal-negative_prompt-number": (
        lambda out: _fal(lambda e: e.generate("a cat", negative_prompt=5), out),
        "negative_prompt",
        True,
    ),
    "fal-config-mapping-unknown-size": (
        lambda out: _fal(lambda e: e.generate("a cat", config={"image_size": "huge"}), out),
        "image size 'huge'",
        True,
    ),
    "fal-config-mapping-steps-0": (
        lambda out: _fal(lambda e: e.generate("a cat", config={"num_inference_steps": 0}), out),
        "num_inference_steps",
        True,
    ),
    "fal-unknown-model": (
        lambda out: _fal(lambda e: e.generate("a cat", EngineConfig(), model="nosuch"), out),
        "invalid model 'nosuch'",
        False,
    ),
    "cli-text-num_images-0": (
        lambda out: lambda: TwatGenAiCLI(out).text("a cat", num_images=0),
        "num_images",
        True,
    ),
    "cli-text-unknown-size": (
        lambda out: lambda: TwatGenAiCLI(out).text("a cat", image_size="huge"),
        "image size 'huge'",
        True,
    ),
    "cli-image-strength-2": (
        lambda out: lambda: TwatGenAiCLI(out).image("https://example.com/a.png", "x", strength=2),
        "strength",
        True,
    ),
    "cli-concurrency-0": (
        lambda out: lambda: TwatGenAiCLI(out, concurrency=0),
        "concurrency",
        False,
    ),
    "cli-run_generation-unknown-model": (
        lambda out: lambda: TwatGenAiCLI(out)._run_generation("a cat", "nosuch"),  # type: ignore[arg-type]
        "invalid model 'nosuch'",
        False,
    ),
    "openai-n-0": (
        lambda out: lambda: OpenAIImageClient(output_dir=out).generate("a cat", n=0),
        "invalid n",
        True,
    ),
    "openai-edit-bad-url": (
        lambda out: lambda: OpenAIImageClient(output_dir=out).edit("x", ["http://h:abc/a.png"]),
        "malformed port",
        True,
    ),
    "chutes-negative-width": (
        lambda out: lambda: ChutesClient(output_dir=out).generate_image("a cat", width=-5),
        "width",
        True,
    ),
    "chutes-steps-string": (
        lambda out: lambda: ChutesClient(output_dir=out).generate_image("a cat", steps="many"),
        "steps",
        True,
    ),
    "gemini-input-ftp": (
        lambda out: (
            lambda: GeminiImageClient(output_dir=out).generate(
                "a cat", images=["ftp://example.com/a.png"]
            )
        ),
        "the scheme 'ftp://'",
        True,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_values_raise_one_line_usage_errors(name, out, requests_log):
    """Each public entry refuses a bad value with a UsageError (a ValueError) naming the field,
    chained to pydantic's error when pydantic found it, before any request or file."""
    make, field, from_pydantic = CASES[name]
    with pytest.raises(UsageError) as info:
        make(out)()
    err = info.value
    assert isinstance(err, ValueError)
    message = str(err)
    assert "\n" not in message and field in message, message
    if from_pydantic:
        assert isinstance(err.__cause__, ValidationError)
    assert requests_log() == []
    assert not out.exists()


def test_model_types_parse_accepts_names_and_endpoints():
    """``model=`` takes a ModelTypes member, its name in any case or its endpoint id."""
    assert ModelTypes.parse("upscaler_esrgan") is ModelTypes.UPSCALER_ESRGAN
    assert ModelTypes.parse("fal-ai/flux-lora") is ModelTypes.TEXT
    assert ModelTypes.parse(ModelTypes.IMAGE) is ModelTypes.IMAGE
