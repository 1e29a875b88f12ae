"""The Python API end to end: the README's example, FALEngine, EngineConfig and TwatGenAiCLI,
against the fal emulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai import (
    EngineConfig,
    FALEngine,
    FALImageInput,  # noqa: F401 - imported as in the README
    ImageInput,
    ImageToImageConfig,
    ModelTypes,
    OutpaintConfig,
    TwatGenAiCLI,
    UpscaleConfig,
)
from twat_genai.core.errors import MissingKeyError

pytestmark = pytest.mark.usefixtures("fal_env")


def submitted(log: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    return [
        e["args"]
        for e in log
        if e["method"] == "POST" and e["status"] == 200 and e["endpoint"] == endpoint
        and e["path"].startswith("/fal/queue/")
    ]  # fmt: skip


# The README's "Basic Usage (Python API)" example, verbatim except that the three image URLs
# are replaced by local files (the emulator has no internet access) passed as ImageInput(path=...).
async def readme_main(input_i2i: Path, input_upscale: Path, input_outpaint: Path):
    output_dir = Path("api_generated_images")
    output_dir.mkdir(exist_ok=True)  # noqa: ASYNC240 - as in the README

    # Ensure FAL_KEY is set in your environment or .env file

    async with FALEngine(output_dir=output_dir) as engine:
        # --- 1. Text-to-Image ---
        print("Running Text-to-Image...")
        base_config_tti = EngineConfig(image_size="HD", num_inference_steps=30)
        result_tti = await engine.generate(
            prompt="A stunning fantasy castle on a floating island, hyperrealistic",
            config=base_config_tti,
            model=ModelTypes.TEXT,  # Specify Text-to-Image model
            filename_prefix="fantasy_castle",
            lora_spec="shou_xin:0.5",  # Example LoRA
        )
        if result_tti and result_tti.image_info.get("path"):
            print(f"TTI image saved to: {result_tti.image_info['path']}")
            print(f"TTI metadata: {result_tti.image_info.get('metadata_path')}")
        else:
            print(f"TTI generation failed or image path not found. Result: {result_tti}")

        # --- 2. Image-to-Image ---
        print("\nRunning Image-to-Image...")
        base_config_i2i = EngineConfig(num_inference_steps=25)
        # FALImageInput will be created internally by FALEngine from ImageInput
        i2i_specific_config = ImageToImageConfig(
            input_image=ImageInput(path=input_i2i),  # Provide base ImageInput
            strength=0.7,
            negative_prompt="blurry, low quality",
            model_type=ModelTypes.IMAGE,  # Redundant if model passed to generate()
        )
        result_i2i = await engine.generate(
            prompt="Convert this to a cyberpunk city scene",
            config=base_config_i2i,
            model=ModelTypes.IMAGE,  # Specify Image-to-Image model
            image_config=i2i_specific_config,  # Pass the I2I specific config
            filename_prefix="cyberpunk_city",
        )
        if result_i2i and result_i2i.image_info.get("path"):
            print(f"I2I image saved to: {result_i2i.image_info['path']}")
        else:
            print(f"I2I generation failed or image path not found. Result: {result_i2i}")

        # --- 3. Upscale ---
        print("\nRunning Upscale...")
        # Base config might be ignored or partially used by upscalers
        base_config_upscale = EngineConfig()
        upscale_specific_config = UpscaleConfig(
            input_image=ImageInput(path=input_upscale),
            prompt="Enhance details, sharp focus, high resolution",  # For Ideogram, Clarity etc.
            clarity_creativity=0.5,
        )
        result_upscale = await engine.generate(
            prompt="Enhance details, sharp focus, high resolution",  # Prompt for context
            config=base_config_upscale,
            # Choose a specific upscaler model from ModelTypes
            model=ModelTypes.UPSCALER_CLARITY,
            upscale_config=upscale_specific_config,
            filename_prefix="upscaled_image_clarity",
        )
        if result_upscale and result_upscale.image_info.get("path"):
            print(f"Upscaled image saved to: {result_upscale.image_info['path']}")
        else:
            print(f"Upscale failed or image path not found. Result: {result_upscale}")

        # --- 4. Outpaint ---
        print("\nRunning Outpaint...")
        base_config_outpaint = EngineConfig()
        outpaint_specific_config = OutpaintConfig(
            input_image=ImageInput(path=input_outpaint),
            prompt="Expand the mountain scene with a vast, starry night sky above and misty valleys below.",
            target_width=1536,
            target_height=1024,
            outpaint_tool="bria",  # or "flux"
            # For Bria, you can enable GenFill post-processing via border_thickness_factor > 0
            border_thickness_factor=0.05,  # Example: 5% of min dimension for border
        )
        result_outpaint = await engine.generate(
            prompt=outpaint_specific_config.prompt,  # Pass prompt from config or directly
            config=base_config_outpaint,
            model=ModelTypes.OUTPAINT_BRIA,  # Or ModelTypes.OUTPAINT_FLUX
            outpaint_config=outpaint_specific_config,
            filename_prefix="outpainted_scene_bria",
        )
        if result_outpaint and result_outpaint.image_info.get("path"):
            print(f"Outpainted image saved to: {result_outpaint.image_info['path']}")
        else:
            print(f"Outpaint failed or image path not found. Result: {result_outpaint}")

    return result_tti, result_i2i, result_upscale, result_outpaint


def test_readme_python_api_example(make_image, tmp_path, capsys, requests_log):
    """The README's Python API example runs as written and its 4 promised files and sidecars exist."""
    i2i = make_image(tmp_path / "inputs" / "sketch-mountains-input.jpg", (512, 512))
    up = make_image(tmp_path / "inputs" / "mountains-input.png", (512, 384))
    out = make_image(tmp_path / "inputs" / "mountains-outpaint.png", (768, 512), "RGBA")

    results = asyncio.run(readme_main(i2i, up, out))

    printed = capsys.readouterr().out
    assert "failed" not in printed
    saved = re.findall(r"saved to: (.+)", printed)
    assert len(saved) == 4
    for result, path in zip(results, saved, strict=True):
        info = result.image_info
        assert info["path"] == path
        assert Path(info["path"]).is_file()
        assert Path(info["metadata_path"]).is_file()
        assert Path(info["path"]).resolve().parent == (tmp_path / "api_generated_images").resolve()
        meta = json.loads(Path(info["metadata_path"]).read_text())
        assert meta["request_id"] == result.request_id
    tti, i2i_res, up_res, out_res = results
    assert Path(tti.image_info["path"]).name.startswith("fantasy_castle")
    assert (tti.image_info["width"], tti.image_info["height"]) == (1024, 576)
    assert f"TTI metadata: {tti.image_info['metadata_path']}" in printed
    assert Path(i2i_res.image_info["path"]).name.startswith("cyberpunk_city")
    assert (i2i_res.image_info["width"], i2i_res.image_info["height"]) == (512, 512)
    assert Path(up_res.image_info["path"]).name.startswith("upscaled_image_clarity")
    assert (up_res.image_info["width"], up_res.image_info["height"]) == (1024, 768)

    log = requests_log()
    [text] = submitted(log, "fal-ai/flux-lora")
    assert text["image_size"] == "landscape_16_9"
    assert text["num_inference_steps"] == 30
    assert text["loras"] == [{"path": "hassanelmghari/shou_xin", "scale": 0.5}]
    [img] = submitted(log, "fal-ai/flux-lora/image-to-image")
    # FLUX [dev] image-to-image takes no negative prompt (fal's schema): not sent, but warned.
    assert img["strength"] == 0.7 and "negative_prompt" not in img
    assert any("negative prompt" in w for w in i2i_res.warnings)
    [clarity] = submitted(log, "fal-ai/clarity-upscaler")
    assert clarity["creativity"] == 0.5 and "clarity_creativity" not in clarity
    [expand] = submitted(log, "fal-ai/bria/expand")
    assert expand["canvas_size"] == [1536, 1024]
    assert expand["original_image_size"] == [768, 512]
    assert expand["original_image_location"] == [384, 256]
    assert submitted(log, "fal-ai/bria/genfill")
    # The outpaint result is the GenFill image; the expanded one is saved too.
    assert [i["role"] for i in out_res.images] == ["genfill", "main"]
    assert out_res.image_info["path"].endswith("-genfill.png")
    assert all(Path(i["path"]).is_file() for i in out_res.images)
    assert all((i["width"], i["height"]) == (1536, 1024) for i in out_res.images)


def test_falengine_without_key_raises_before_touching_disk(monkeypatch, tmp_path):
    """``FALEngine()`` without FAL_KEY raises MissingKeyError naming FAL_KEY and creates no directory."""
    monkeypatch.delenv("FAL_KEY")
    with pytest.raises(MissingKeyError, match="FAL_KEY"):
        FALEngine(output_dir=tmp_path / "never")
    with pytest.raises(MissingKeyError, match="FAL_KEY"):
        FALEngine()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "preset", "wh"),
    [
        ("HD", "HD", (1024, 576)),
        ("hd", "HD", (1024, 576)),
        ("landscape_16_9", "HD", (1024, 576)),
        ((1024, 768), None, (1024, 768)),
        ("1024x768", None, (1024, 768)),
    ],
)
def test_engine_config_image_size_spellings(value, preset, wh):
    """EngineConfig accepts a preset name in any case, a preset value, a (w, h) tuple and "WxH";
    a named size keeps its name (each provider maps it to its own form)."""
    fields = EngineConfig(image_size=value).size_fields()
    assert fields["size_preset"] == preset
    assert (fields["size"].width, fields["size"].height) == wh


def test_engine_config_lowercase_preset_reaches_fal(requests_log, tmp_path):
    """``EngineConfig(image_size="hd")`` is sent to fal as landscape_16_9 and yields 1024x576."""

    async def go() -> Any:
        async with FALEngine(output_dir=tmp_path / "out") as engine:
            return await engine.generate("a lighthouse", EngineConfig(image_size="hd"))

    result = asyncio.run(go())
    [args] = submitted(requests_log(), "fal-ai/flux-lora")
    assert args["image_size"] == "landscape_16_9"
    with Image.open(result.image_info["path"]) as img:
        assert img.size == (1024, 576)


def test_cli_run_generation_from_sync_code(tmp_path):
    """``TwatGenAiCLI(output_dir=...)._run_generation("a cat", ModelTypes.TEXT)`` returns saved results from sync code."""
    cli = TwatGenAiCLI(output_dir=tmp_path / "out")
    results = cli._run_generation("a cat", ModelTypes.TEXT)
    assert len(results) == 1
    assert results[0].original_prompt == "a cat"
    assert Path(results[0].image_info["path"]).is_file()
    assert Path(results[0].image_info["metadata_path"]).is_file()


def test_cli_run_generation_awaited_in_async_code(tmp_path):
    """``await cli._run_generation(...)`` inside a running event loop returns saved results."""

    async def go() -> Any:
        cli = TwatGenAiCLI(output_dir=tmp_path / "out")
        return await cli._run_generation("a cat in a hat", ModelTypes.TEXT)

    results = asyncio.run(go())
    assert len(results) == 1
    assert Path(results[0].image_info["path"]).is_file()


def test_cli_image_method(make_image, tmp_path, requests_log):
    """``cli.image(input_image=..., prompts=...)`` runs image-to-image and saves the result."""
    src = make_image(tmp_path / "input.png", (320, 240), "RGBA")
    cli = TwatGenAiCLI(output_dir=tmp_path / "out")
    results = cli.image(input_image=str(src), prompts="a watercolor {cat,dog}")
    assert len(results) == 2
    for r in results:
        assert Path(r.image_info["path"]).is_file()
        assert Path(r.image_info["metadata_path"]).is_file()
    sent = submitted(requests_log(), "fal-ai/flux-lora/image-to-image")
    assert sorted(a["prompt"] for a in sent) == ["a watercolor cat", "a watercolor dog"]
    assert all(a["strength"] == 0.75 and a["image_url"] for a in sent)


def test_readme_batch_with_progress(tmp_path, capsys, requests_log):
    """README "Batches from Python, with progress", run as written."""
    text = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    section = text.split("### Batches from Python, with progress", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README-batch", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split(" ", 1)[0] for line in out[:3]) == ["1/3", "2/3", "3/3"]
    assert all(" ok: a " in line for line in out[:3])
    assert out[3] == "3 items: 3 ok"
    assert len(submitted(requests_log(), "fal-ai/flux-lora")) == 3
    assert len(list((tmp_path / "generated_images").glob("*.json"))) == 3


def test_upscale_warns_about_engine_settings_it_cannot_use(make_image, tmp_path):
    photo = make_image(tmp_path / "photo.png", (128, 128))

    async def run(config: EngineConfig) -> Any:
        async with FALEngine(tmp_path / "out") as engine:
            return await engine.generate(
                prompt="",
                config=config,
                model=ModelTypes.UPSCALER_ESRGAN,
                upscale_config=UpscaleConfig(input_image=ImageInput(path=photo), scale=2),
            )

    quiet = asyncio.run(run(EngineConfig()))
    assert not any("ignored" in w for w in quiet.warnings)
    noisy = asyncio.run(run(EngineConfig(guidance_scale=5, output_format="png")))
    assert "fal-ai/esrgan does not use guidance_scale; ignored" in noisy.warnings
    assert "fal-ai/esrgan does not use output_format; ignored" in noisy.warnings
