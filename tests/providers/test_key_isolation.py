"""Keys go only to the provider's API, never to the hosts of input images or result files."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from twat_genai import EngineConfig, FALEngine, ImageInput, ModelTypes, OutpaintConfig
from twat_genai.testing import EmulatorServer


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def test_remote_input_and_downloads_are_fetched_without_the_key(
    fal_env: dict[str, str],
    emulator: EmulatorServer,
    requests_log: Callable[[], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    """An outpaint of a remote input fetches it (to learn its size) and downloads results with
    no Authorization header, while the fal API calls carry it."""
    url = emulator.files.put(_png((512, 384)), "image/png", name="input.png")

    async def run() -> str:
        async with FALEngine(output_dir=tmp_path / "out") as engine:
            result = await engine.generate(
                "wider",
                EngineConfig(),
                model=ModelTypes.OUTPAINT_BRIA,
                outpaint_config=OutpaintConfig(
                    input_image=ImageInput(url=url), target_width=1024, target_height=512
                ),
            )
            return str(result.image_info["path"])

    assert Path(asyncio.run(run())).is_file()
    log = requests_log()
    fetches = [e for e in log if e["method"] == "GET" and "/files/" in e["path"]]
    api_calls = [e for e in log if e["method"] == "POST" and "/fal/queue/" in e["path"]]
    assert fetches, "the input and the results were downloaded"
    assert api_calls
    for entry in fetches:
        assert "authorization" not in [h.lower() for h in entry["headers"]], entry["path"]
    for entry in api_calls:
        assert "authorization" in [h.lower() for h in entry["headers"]]
