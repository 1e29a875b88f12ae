"""The ``twat-genai`` fal commands end to end: the README's CLI examples, flag spellings,
errors, concurrency, naming and sidecars, against the fal emulator over real HTTP."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

UPLOAD_ENDPOINTS = {"files/upload", "storage/upload/put", "files/upload/multipart"}
UPSCALE_ENDPOINTS = {
    "aura_sr": "fal-ai/aura-sr",
    "ccsr": "fal-ai/ccsr",
    "clarity": "fal-ai/clarity-upscaler",
    "drct": "fal-ai/drct-super-resolution",
    "esrgan": "fal-ai/esrgan",
    "ideogram": "fal-ai/ideogram/upscale",
    "recraft_clarity": "fal-ai/recraft/upscale/crisp",
    "recraft_creative": "fal-ai/recraft/upscale/creative",
}

pytestmark = pytest.mark.usefixtures("fal_env")


# ----------------------------------------------------------------------------- helpers


def submits(log: list[dict[str, Any]], endpoint: str | None = None) -> list[dict[str, Any]]:
    """Accepted queue submissions (optionally for one endpoint): their JSON arguments."""
    return [
        e["args"]
        for e in log
        if e["method"] == "POST"
        and e["path"].startswith("/fal/queue/")
        and e["status"] == 200
        and (endpoint is None or e["endpoint"] == endpoint)
    ]


def uploads(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upload requests that stored a file."""
    return [e for e in log if e["endpoint"] in UPLOAD_ENDPOINTS and e["status"] == 200]


def paths_from(out: str) -> list[Path]:
    """The saved paths the CLI printed, one per line."""
    return [Path(line) for line in out.splitlines() if line.strip()]


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def assert_saved(paths: list[Path]) -> None:
    """Every path exists, decodes as an image, and has a JSON sidecar beside it."""
    assert paths
    for p in paths:
        assert p.is_file(), p
        with Image.open(p) as img:
            img.verify()
        sidecar = p.with_suffix(".json")
        assert sidecar.is_file(), sidecar
        assert json.loads(sidecar.read_text())["request_id"]


def is_journal(path: Path) -> bool:
    """The run journal (SQLite, plus its -wal/-shm files) the spec puts in the output folder."""
    return path.name.startswith(".twat-genai-journal")


def written(directory: Path) -> list[Path]:
    """Every file under ``directory`` except the run journal (temporary files included)."""
    if not directory.exists():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file() and not is_journal(p))


def media_files(directory: Path) -> list[Path]:
    """Files in ``directory`` that are neither sidecars nor the journal."""
    return [p for p in written(directory) if p.suffix != ".json"]


# ----------------------------------------------------------------------------- README examples


def test_readme_text_basic(run_cli, requests_log, tmp_path):
    """README TTI example 1 saves one 1024x1024 image with a sidecar in generated_images."""
    prompt = "A futuristic cityscape at sunset, neon lights, cinematic"
    code, out, err = run_cli("text", "--prompts", prompt)
    assert code == 0, err
    paths = paths_from(out)
    assert len(paths) == 1
    assert_saved(paths)
    assert paths[0].resolve().parent == (tmp_path / "generated_images").resolve()
    assert size_of(paths[0]) == (1024, 1024)
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["prompt"] == prompt
    assert args["image_size"] == "square_hd"


def test_readme_text_two_prompts_hd(run_cli, requests_log):
    """README TTI example 2 makes two 1024x576 images and sends image_size landscape_16_9."""
    code, out, err = run_cli(
        "text",
        "--prompts",
        "photo of a majestic lion; illustration of a mythical phoenix",
        "--image_size",
        "HD",
    )
    assert code == 0, err
    paths = paths_from(out)
    assert len(paths) == 2
    assert_saved(paths)
    assert [size_of(p) for p in paths] == [(1024, 576), (1024, 576)]
    sent = submits(requests_log(), "fal-ai/flux-lora")
    assert sorted(a["prompt"] for a in sent) == [
        "illustration of a mythical phoenix",
        "photo of a majestic lion",
    ]
    assert all(a["image_size"] == "landscape_16_9" for a in sent)
    assert all("width" not in a and "height" not in a for a in sent)


def test_readme_text_lora(run_cli, requests_log, tmp_path):
    """README TTI example 3 sends the library LoRA scaled by 0.8, adds the trigger once, and saves in my_portraits."""
    code, out, err = run_cli(
        "text",
        "--prompts",
        "portrait of a warrior",
        "--lora",
        "shou_xin:0.8",
        "--output_dir",
        "my_portraits",
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["loras"] == [{"path": "hassanelmghari/shou_xin", "scale": 0.8}]
    assert args["prompt"].startswith("shou_xin, ")
    assert args["prompt"].count("shou_xin") == 1
    assert args["prompt"].endswith("portrait of a warrior")
    paths = paths_from(out)
    assert_saved(paths)
    assert [p.resolve().parent for p in paths] == [(tmp_path / "my_portraits").resolve()]
    assert not (tmp_path / "generated_images").exists()
    meta = json.loads(paths[0].with_suffix(".json").read_text())
    assert meta["original_prompt"] == "portrait of a warrior"
    assert meta["prompt"] == args["prompt"]
    assert meta["parameters"]["loras"] == args["loras"]


def test_image_size_width_height(run_cli, requests_log):
    """``--image_size 1024,768`` reaches fal as {width, height} and yields a 1024x768 image."""
    code, out, err = run_cli("text", "--prompts", "a boat", "--image_size", "1024,768")
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["image_size"] == {"width": 1024, "height": 768}
    assert size_of(paths_from(out)[0]) == (1024, 768)


def test_readme_image_to_image(run_cli, requests_log, make_image, tmp_path):
    """README I2I example sends strength 0.65 and the input image, and saves the result."""
    photo = make_image(tmp_path / "photo.jpg", (640, 480))
    code, out, err = run_cli(
        "image",
        "--input_image",
        str(photo),
        "--prompts",
        "transform into a vibrant oil painting",
        "--strength",
        "0.65",
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora/image-to-image")
    assert args["strength"] == 0.65
    assert isinstance(args["image_url"], str)
    assert args["image_url"].startswith(("http://", "https://", "data:"))
    assert args["prompt"] == "transform into a vibrant oil painting"
    paths = paths_from(out)
    assert len(paths) == 1
    assert_saved(paths)


CONTROL_ENDPOINTS = {"canny": "fal-ai/flux-lora-canny", "depth": "fal-ai/flux-lora-depth"}


@pytest.mark.parametrize("command", sorted(CONTROL_ENDPOINTS))
def test_readme_canny_and_depth(run_cli, requests_log, make_image, tmp_path, command):
    """README canny/depth examples call their endpoint with image_url (no strength) and save a file."""
    endpoint = CONTROL_ENDPOINTS[command]
    sketch = make_image(tmp_path / "sketch.png", (512, 384))
    code, out, err = run_cli(
        command,
        "--input_image",
        str(sketch),
        "--prompts",
        "detailed spaceship based on the sketch, metallic texture",
    )
    assert code == 0, err
    [args] = submits(requests_log(), endpoint)
    assert args["image_url"]
    assert "strength" not in args
    assert_saved(paths_from(out))


def test_readme_upscale_esrgan(run_cli, requests_log, make_image, tmp_path):
    """README esrgan example sends model and scale and saves the input doubled in upscaled_images."""
    low = make_image(tmp_path / "low_res_image.png", (300, 200))
    code, out, err = run_cli(
        "upscale",
        "--input_image",
        str(low),
        "--tool",
        "esrgan",
        "--output_dir",
        "upscaled_images",
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/esrgan")
    assert args["model"] == "RealESRGAN_x4plus"
    assert args["scale"] == 2
    assert "prompt" not in args
    [path] = paths_from(out)
    assert_saved([path])
    assert path.resolve().parent == (tmp_path / "upscaled_images").resolve()
    assert size_of(path) == (600, 400)


def test_readme_upscale_ideogram_scale_warns(run_cli, requests_log, make_image, tmp_path):
    """README ideogram example exits 0, sends the prompt, and warns on stderr that scale is ignored."""
    art = make_image(tmp_path / "artwork.jpg", (256, 256))
    code, out, err = run_cli(
        "upscale",
        "--input_image",
        str(art),
        "--tool",
        "ideogram",
        "--prompts",
        "enhance details, painterly style",
        "--scale",
        "2",
    )
    assert code == 0, err
    assert "warning" in err.lower() and "scale" in err.lower()
    [args] = submits(requests_log(), "fal-ai/ideogram/upscale")
    assert args["prompt"] == "enhance details, painterly style"
    assert "scale" not in args
    assert_saved(paths_from(out))


def test_readme_upscale_clarity(run_cli, requests_log, make_image, tmp_path):
    """README clarity example sends clarity's real parameter names, not the prefixed ones."""
    photo = make_image(tmp_path / "photo.jpg", (256, 192))
    code, out, err = run_cli(
        "upscale",
        "--input_image",
        str(photo),
        "--tool",
        "clarity",
        "--prompts",
        "ultra realistic photo, sharp details",
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/clarity-upscaler")
    assert args["upscale_factor"] == 2
    assert args["prompt"] == "ultra realistic photo, sharp details"
    assert "creativity" in args
    assert not any(k.startswith("clarity_") for k in args)
    assert_saved(paths_from(out))


@pytest.mark.parametrize("tool", sorted(UPSCALE_ENDPOINTS))
def test_every_upscale_tool_runs(run_cli, requests_log, make_image, tmp_path, tool):
    """Every ``--tool`` name calls its fal endpoint and saves a larger image."""
    src = make_image(tmp_path / "small.png", (128, 96))
    code, out, err = run_cli("upscale", "--input_image", str(src), "--tool", tool)
    assert code == 0, err
    [args] = submits(requests_log(), UPSCALE_ENDPOINTS[tool])
    assert args["image_url"]
    [path] = paths_from(out)
    assert_saved([path])
    w, h = size_of(path)
    assert w > 128 and h > 96
    assert w * 96 == h * 128  # aspect kept


def test_readme_outpaint_bria_with_genfill(run_cli, requests_log, make_image, tmp_path, fetch):
    """README Bria outpaint sends the SPEC geometry, uploads the exact GenFill border mask, and saves both results."""
    center = make_image(tmp_path / "center_image.png", (1024, 768))
    code, out, err = run_cli(
        "outpaint",
        "--input_image",
        str(center),
        "--prompts",
        "expand the scene with a lush forest on the left and a serene lake on the right",
        "--target_width",
        "2048",
        "--target_height",
        "1024",
    )
    assert code == 0, err
    genfilled, expanded = paths_from(out)
    # One stem: the GenFill result ends -genfill, the expanded image has no number.
    assert genfilled.name == expanded.stem + "-genfill" + expanded.suffix
    assert json.loads(genfilled.with_suffix(".json").read_text())["result"]["role"] == "genfill"
    log = requests_log()
    [expand] = submits(log, "fal-ai/bria/expand")
    assert expand["canvas_size"] == [2048, 1024]
    assert expand["original_image_size"] == [1024, 768]
    assert expand["original_image_location"] == [512, 128]
    [genfill] = submits(log, "fal-ai/bria/genfill")
    assert genfill["prompt"].startswith("expand the scene")
    # Order: expand submitted, then the mask uploaded, then genfill submitted.
    idx = {id(e): i for i, e in enumerate(log)}
    expand_at = next(idx[id(e)] for e in log if e["endpoint"] == "fal-ai/bria/expand")
    genfill_at = next(idx[id(e)] for e in log if e["endpoint"] == "fal-ai/bria/genfill")
    assert any(expand_at < idx[id(u)] < genfill_at for u in uploads(log))

    with Image.open(io.BytesIO(fetch(genfill["mask_url"]))) as raw:
        mask = raw.convert("L")
    assert mask.size == (2048, 1024)
    px = mask.getpixel
    white, black = 255, 0
    # The white band x 466-1582, y 82-942 (inclusive) ...
    assert px((466, 500)) == white and px((465, 500)) == black
    assert px((1582, 500)) == white and px((1583, 500)) == black
    assert px((1000, 82)) == white and px((1000, 81)) == black
    assert px((1000, 942)) == white and px((1000, 943)) == black
    # ... with a black hole x 517-1531, y 133-891.
    assert px((517, 500)) == black and px((516, 500)) == white
    assert px((1531, 500)) == black and px((1532, 500)) == white
    assert px((1000, 133)) == black and px((1000, 132)) == white
    assert px((1000, 891)) == black and px((1000, 892)) == white
    assert px((0, 0)) == black and px((2047, 1023)) == black

    paths = paths_from(out)
    assert_saved(paths)
    assert len(paths) == 2
    genfilled = [p for p in paths if "-genfill" in p.name]
    assert len(genfilled) == 1
    assert all(size_of(p) == (2048, 1024) for p in paths)


def test_readme_outpaint_flux(run_cli, requests_log, make_image, tmp_path):
    """README Flux outpaint calls flux-lora/inpainting with the canvas size and strength 0.85."""
    center = make_image(tmp_path / "center_image.png", (1000, 600))
    code, out, err = run_cli(
        "outpaint",
        "--input_image",
        str(center),
        "--tool",
        "flux",
        "--prompts",
        "fantasy landscape expanding outwards",
        "--target_width",
        "1920",
        "--target_height",
        "1080",
    )
    assert code == 0, err
    log = requests_log()
    [args] = submits(log, "fal-ai/flux-lora/inpainting")
    assert args["image_size"] == {"width": 1920, "height": 1080}
    assert args["strength"] == 0.85
    assert args["image_url"] and args["mask_url"]
    assert args["prompt"] == "fantasy landscape expanding outwards"
    assert not submits(log, "fal-ai/bria/expand")
    [path] = paths_from(out)
    assert_saved([path])
    assert size_of(path) == (1920, 1080)


def test_outpaint_flux_uploads_spec_mask_and_canvas(
    run_cli, requests_log, make_image, tmp_path, fetch
):
    """Flux outpaint uploads a 1920x1080 mask keeping black x 462-1457 / y 242-837 and a transparent canvas."""
    center = make_image(tmp_path / "center_image.png", (1000, 600))
    code, _, err = run_cli(
        "outpaint",
        *("--input_image", str(center), "--tool", "flux", "--prompts", "more land"),
        *("--target_width", "1920", "--target_height", "1080"),
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora/inpainting")
    with Image.open(io.BytesIO(fetch(args["mask_url"]))) as raw:
        mask = raw.convert("L")
    assert mask.size == (1920, 1080)
    px = mask.getpixel
    assert px((462, 500)) == 0 and px((461, 500)) == 255
    assert px((1457, 500)) == 0 and px((1458, 500)) == 255
    assert px((900, 242)) == 0 and px((900, 241)) == 255
    assert px((900, 837)) == 0 and px((900, 838)) == 255
    assert px((0, 0)) == 255
    with Image.open(io.BytesIO(fetch(args["image_url"]))) as raw:
        canvas = raw.convert("RGBA")
    assert canvas.size == (1920, 1080)
    assert canvas.getpixel((10, 10))[3] == 0
    assert canvas.getpixel((960, 540))[3] == 255
    assert canvas.getpixel((460, 240))[3] == 255 and canvas.getpixel((459, 240))[3] == 0


def test_text_negative_prompt_seed_and_num_images(run_cli, requests_log, tmp_path):
    """Text sends the seed, and ``--num_images 3`` saves three distinct files; FLUX [dev] takes no
    negative prompt (fal's schema), so it is not sent and the sidecar says so."""
    code, out, err = run_cli(
        "text",
        *("--prompts", "a tree", "--negative_prompt", "blurry", "--seed", "7"),
        *("--num_images", "3", "--output_dir", "trees", "--output", "sub"),
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert "negative_prompt" not in args
    assert args["seed"] == 7
    assert args["num_images"] == 3
    paths = paths_from(out)
    assert len(set(paths)) == 3
    assert_saved(paths)
    assert {p.resolve().parent for p in paths} == {(tmp_path / "trees" / "sub").resolve()}
    warnings = json.loads(paths[0].with_suffix(".json").read_text())["warnings"]
    assert any("does not support negative prompt" in w for w in warnings)


def test_upscale_resizes_oversized_input(run_cli, requests_log, make_image, tmp_path, fetch):
    """An input larger than the tool's maximum side (clarity: 1024) is resized before upload."""
    big = make_image(tmp_path / "big.jpg", (1600, 1200))
    code, out, err = run_cli("upscale", "--input_image", str(big), "--tool", "clarity")
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/clarity-upscaler")
    with Image.open(io.BytesIO(fetch(args["image_url"]))) as sent:
        assert sent.size == (1024, 768)
    [path] = paths_from(out)
    assert size_of(path) == (2048, 1536)


def test_rate_limited_submit_is_retried(run_cli, requests_log):
    """A 429 on submit is retried and the item still succeeds."""
    code, out, err = run_cli("text", "--prompts", "a cat [emulate:ratelimit]")
    assert code == 0, err
    statuses = [
        e["status"]
        for e in requests_log()
        if e["method"] == "POST" and e["endpoint"] == "fal-ai/flux-lora"
    ]
    assert statuses == [429, 200]
    assert_saved(paths_from(out))


def test_verbose_never_prints_the_key(run_cli, fal_env):
    """``--verbose`` debug logging on stderr does not contain the key."""
    code, out, err = run_cli("text", "--prompts", "a cat", "--verbose")
    assert code == 0, err
    assert "DEBUG" in err
    assert fal_env["FAL_KEY"] not in out + err


# ----------------------------------------------------------------------------- flags


def test_output_dir_spellings_are_the_same_flag(run_cli, tmp_path):
    """``--output-dir`` and ``--output_dir`` both put the files in the named folder."""
    code1, out1, err1 = run_cli("text", "--prompts", "a fox", "--output_dir", "snake")
    code2, out2, err2 = run_cli("text", "--prompts", "a fox", "--output-dir", "kebab")
    assert (code1, code2) == (0, 0), err1 + err2
    assert [p.resolve().parent for p in paths_from(out1)] == [(tmp_path / "snake").resolve()]
    assert [p.resolve().parent for p in paths_from(out2)] == [(tmp_path / "kebab").resolve()]
    assert len(media_files(tmp_path / "snake")) == len(media_files(tmp_path / "kebab")) == 1


def test_image_size_kebab_spelling(run_cli, requests_log):
    """``--image-size HD`` works like ``--image_size HD``."""
    code, out, err = run_cli("text", "--prompts", "a fox", "--image-size", "HD")
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["image_size"] == "landscape_16_9"
    assert size_of(paths_from(out)[0]) == (1024, 576)


def test_flags_before_command_with_sandbox(run_cli, requests_log, tmp_path):
    """``--json --sandbox text --prompts x`` runs on the built-in emulator and prints JSON with real paths."""
    code, out, err = run_cli("--json", "--sandbox", "text", "--prompts", "x")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    [image] = rows[0]["images"]
    assert Path(image["path"]).is_file() and Path(image["metadata_path"]).is_file()
    assert requests_log() == []  # the sandbox's own emulator was used, not ours


def test_dry_run_lists_prompts_and_calls_nothing(run_cli, requests_log, tmp_path):
    """``--dry-run`` shows each item's endpoint, exact arguments and cost, then the total; it
    makes no request and no directory."""
    code, out, err = run_cli("text", "--prompts", "a {red,blue} {car,bike}", "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 5 and lines[-1].startswith("4 items; estimated cost $")
    for index, (line, prompt) in enumerate(
        zip(lines, ["a red car", "a red bike", "a blue car", "a blue bike"], strict=False)
    ):
        head, _, arguments = line.partition(" {")
        assert head.startswith(f"#{index} fal fal-ai/flux-lora $")
        assert json.loads("{" + arguments)["prompt"] == prompt
    assert requests_log() == []
    assert list(tmp_path.iterdir()) == []


def test_dry_run_of_320_items_prints_the_arguments_and_a_total(run_cli, requests_log, tmp_path):
    """A 320-item prompt: the count, every item's arguments and the cost total; nothing sent."""
    prompt = (
        "a {" + ",".join(f"c{i}" for i in range(32)) + "} {" + ",".join(map(str, range(10))) + "}"
    )
    code, out, err = run_cli("text", "--prompts", prompt, "--dry-run", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    items, total = rows[:-1], rows[-1]
    assert len(items) == 320 and [r["index"] for r in items] == list(range(320))
    assert all(r["arguments"]["prompt"].startswith("a c") for r in items)
    assert total["total"].startswith("320 items; estimated cost $")
    assert requests_log() == [] and list(tmp_path.iterdir()) == []


def test_budget_below_the_estimate_refuses_and_writes_nothing(run_cli, requests_log, tmp_path):
    code, out, err = run_cli("text", "--prompts", "a {red,blue} car", "--budget", "0.01")
    assert code == 2 and out == ""
    assert "exceeds --budget $0.01" in err and len(err.strip().splitlines()) == 1
    assert requests_log() == [] and list(tmp_path.iterdir()) == []


def test_unknown_price_exceeds_any_budget(run_cli, requests_log, tmp_path):
    code, _, err = run_cli(
        "generate", "x", "--model", "fal-ai/someone/new-model", "--budget", "100"
    )
    assert code == 2 and "price of fal-ai/someone/new-model is unknown" in err
    assert requests_log() == []


def test_json_one_object_per_result(run_cli):
    """``--json`` prints one JSON object per result, each naming files that exist."""
    code, out, err = run_cli("text", "--prompts", "a {cat,dog,owl}", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3
    assert sorted(r["prompt"] for r in rows) == ["a cat", "a dog", "a owl"]
    for row in rows:
        assert row["status"] == "ok" and row["request_id"]
        for image in row["images"]:
            assert Path(image["path"]).is_file()
            assert Path(image["metadata_path"]).is_file()


# ----------------------------------------------------------------------------- errors


def test_text_without_prompt_is_usage_error(run_cli, requests_log, tmp_path):
    """``text`` without a prompt exits 2 with one line on stderr and writes nothing."""
    code, out, err = run_cli("text")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "prompt" in err.lower()
    assert out == ""
    assert list(tmp_path.iterdir()) == []
    assert requests_log() == []


def test_missing_key_is_usage_error(run_cli, requests_log, tmp_path, monkeypatch):
    """Without FAL_KEY (and no --sandbox) the CLI exits 2 naming FAL_KEY and creates no directory."""
    monkeypatch.delenv("FAL_KEY")
    code, _, err = run_cli("text", "--prompts", "a cat")
    assert code == 2
    assert "FAL_KEY" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert requests_log() == []


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("text", "--prompts", "a cat", "--image_size", "foo"), id="bad-size"),
        pytest.param(("text", "--prompts", "a {red,blue car"), id="unmatched-brace"),
        pytest.param(("text", "--prompts", "a red} car"), id="unmatched-closing-brace"),
        pytest.param(("text", "--prompts", "a cat", "--num_images", "0"), id="zero-images"),
        pytest.param(
            ("image", "--input_image", "in.png", "--prompts", "a cat", "--strength", "2"),
            id="strength-above-1",
        ),
    ],
)
def test_bad_input_exits_2(run_cli, requests_log, make_image, tmp_path, argv):
    """Bad input (size, unmatched ``{`` or ``}``, 0 images, strength > 1) exits 2 with one stderr line, before any request or file."""
    make_image(tmp_path / "in.png", (64, 64))
    code, _, err = run_cli(*argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert requests_log() == []
    assert written(tmp_path) == [tmp_path / "in.png"]


def test_missing_input_file_names_the_path(run_cli, requests_log, tmp_path):
    """A missing input image exits 2 and names the path."""
    missing = tmp_path / "nope" / "missing.png"
    code, _, err = run_cli("image", "--input_image", str(missing), "--prompts", "x")
    assert code == 2
    assert "missing.png" in err
    assert requests_log() == []
    assert not (tmp_path / "generated_images").exists()


def test_outpaint_target_smaller_than_input(run_cli, requests_log, make_image, tmp_path):
    """An outpaint canvas smaller than the input exits 2 without uploading anything."""
    big = make_image(tmp_path / "big.png", (1024, 768))
    code, _, err = run_cli(
        "outpaint",
        "--input_image",
        str(big),
        "--prompts",
        "more",
        "--target_width",
        "800",
        "--target_height",
        "600",
    )
    assert code == 2
    assert err.strip()
    log = requests_log()
    assert uploads(log) == []
    assert submits(log) == []
    assert written(tmp_path / "generated_images") == []


def test_model_error_exit_1(run_cli, tmp_path):
    """A 422 from the model exits 1 with the model's message on stderr and saves nothing."""
    code, out, err = run_cli("text", "--prompts", "a cat [emulate:error=422]")
    assert code == 1
    assert "Emulated model error" in err
    assert out == ""
    assert written(tmp_path / "generated_images") == []


def test_batch_keeps_good_items(run_cli, tmp_path):
    """One failing item in a batch exits 1 but the good item's file and sidecar are saved."""
    code, out, err = run_cli("text", "--prompts", "ok one; [emulate:error=422] bad")
    assert code == 1
    paths = paths_from(out)
    assert len(paths) == 1
    assert_saved(paths)
    assert json.loads(paths[0].with_suffix(".json").read_text())["prompt"] == "ok one"
    assert "Emulated model error" in err
    assert len(media_files(tmp_path / "generated_images")) == 1


def test_blocked_saves_nothing(run_cli, tmp_path):
    """A blocked output is not saved and the run exits non-zero."""
    code, out, err = run_cli("text", "--prompts", "a cat [emulate:blocked]")
    assert code != 0
    assert "block" in err.lower()
    assert out == ""
    assert written(tmp_path / "generated_images") == []


def test_broken_download_leaves_nothing(run_cli, tmp_path):
    """A result whose file cannot be downloaded exits 1 and leaves no image, sidecar or temp file."""
    code, out, err = run_cli("text", "--prompts", "a cat [emulate:broken_url]")
    assert code == 1
    assert err.strip()
    assert out == ""
    assert written(tmp_path) == []  # no image, no sidecar, no temporary file


# ----------------------------------------------------------------------------- batches and files


def test_32_jobs_same_second_distinct_files_and_full_sidecars(
    run_cli, requests_log, tmp_path, fal_env
):
    """32 jobs save 32 distinct images and sidecars holding the sent parameters and result, never the key."""
    secret = fal_env["FAL_KEY"]
    code, out, err = run_cli("text", "--prompts", "{a,b,c,d,e,f,g,h} {1,2,3,4}")
    assert code == 0, err
    out_dir = tmp_path / "generated_images"
    images = media_files(out_dir)
    sidecars = [p for p in written(out_dir) if p.suffix == ".json"]
    assert len(images) == 32 and len(set(images)) == 32
    assert len(sidecars) == 32
    assert sorted(p.resolve() for p in paths_from(out)) == sorted(p.resolve() for p in images)
    log = requests_log()
    sent_by_id = {}
    for e in log:
        if e["status"] == 200 and e["method"] == "POST" and e["endpoint"] == "fal-ai/flux-lora":
            sent_by_id[e["args"]["prompt"]] = e["args"]
    assert len(sent_by_id) == 32
    prompts = set()
    for image in images:
        meta = json.loads(image.with_suffix(".json").read_text())
        params = meta["parameters"]
        for key in ("prompt", "image_size", "num_inference_steps", "guidance_scale", "num_images"):
            assert key in params, key
        assert params == sent_by_id[params["prompt"]]
        assert meta["request_id"] and image.name.split("-")[2][:8] == meta["request_id"][:8]
        result = meta["result"]
        assert result["url"].startswith("http")
        assert (result["width"], result["height"]) == (1024, 1024)
        assert result["content_type"] == "image/jpeg"
        assert isinstance(result["seed"], int)
        prompts.add(params["prompt"])
    assert len(prompts) == 32
    everything = [p.read_bytes() for p in out_dir.iterdir()]
    assert all(secret.encode() not in blob for blob in everything)
    assert secret not in out and secret not in err
    assert secret not in json.dumps(log)


@pytest.mark.parametrize(
    ("fmt", "ext", "magic"), [("png", ".png", b"\x89PNG"), ("jpeg", ".jpg", b"\xff\xd8")]
)
def test_extension_follows_bytes(run_cli, requests_log, fmt, ext, magic):
    """``--output_format png`` saves a .png and jpeg a .jpg, matching the bytes."""
    code, out, err = run_cli("text", "--prompts", "a kite", "--output_format", fmt)
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["output_format"] == fmt
    [path] = paths_from(out)
    assert path.suffix == ext
    assert path.read_bytes().startswith(magic)


# ----------------------------------------------------------------------------- --model OPERATION


def test_model_flag_names_the_operation(run_cli, requests_log, make_image, tmp_path):
    """The seed README's common ``--model <model_type>`` picks the fal operation."""
    code, out, err = run_cli("--model", "text", "--prompts", "a red kite")
    assert code == 0, err
    assert_saved(paths_from(out))
    assert submits(requests_log(), "fal-ai/flux-lora")
    image = make_image(tmp_path / "in.png", (256, 256))
    code, out, err = run_cli(
        "--prompts", "a blue kite", "--model=canny", "--input_image", str(image)
    )
    assert code == 0, err
    assert submits(requests_log(), "fal-ai/flux-lora-canny")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["text", "--model", "image", "--prompts", "x"], "contradicts the command text"),
        (["--model", "FLUX.1-dev", "--prompts", "x"], "is not an operation"),
    ],
)
def test_model_flag_errors_are_usage_errors(run_cli, argv, message):
    code, _, err = run_cli(*argv)
    assert code == 2 and message in err


def test_provider_commands_keep_their_own_model_flag(run_cli):
    code, out, err = run_cli(
        "--model", "JuggernautXL", "chutes_image", "--prompts", "x", "--dry-run"
    )
    assert code == 0, err
    assert '"model": "JuggernautXL"' in out.splitlines()[0]


def test_values_starting_with_a_dash(run_cli, requests_log):
    """``--filename_suffix -v2`` and ``--negative_prompt -blurry`` are values, not options."""
    code, out, err = run_cli(
        "text", "--prompts", "a fox", "--filename_suffix", "-v2",
        "--negative_prompt", "-blurry", "--seed", "-1",
    )  # fmt: skip
    assert code == 0, err
    [path] = paths_from(out)
    assert path.stem.endswith("-v2")
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["seed"] == -1
    assert "negative prompt" in err  # taken as its value, then warned about: FLUX [dev] has none
    code, _, err = run_cli("text", "--prompts", "x", "--filename_suffix", "--json")
    assert code == 2 and "expected one argument" in err  # an option is never taken as a value


def test_unwritable_output_folder_fails_before_anything_is_paid(run_cli, requests_log, tmp_path):
    blocker = tmp_path / "taken.txt"
    blocker.write_text("x")
    code, out, err = run_cli("text", "--prompts", "a cat", "--output_dir", str(blocker / "out"))
    assert code == 2 and out == ""
    assert "not a folder: choose another --output_dir" in err and "Traceback" not in err
    assert not [e for e in requests_log() if e["method"] == "POST"]  # nothing submitted
    code, _, err = run_cli(
        "chutes_image", "--prompts", "a cat", "--output_dir", str(blocker), "--sandbox"
    )
    assert code == 2 and "not a folder" in err


@pytest.mark.parametrize("flag", ["--concurrency", "--expand_limit"])
def test_counts_below_one_are_usage_errors(run_cli, flag):
    code, _, err = run_cli("text", "--prompts", "x", flag, "0")
    assert code == 2 and f"{flag}: '0' is below 1: give a whole number of at least 1" in err


def test_upscale_options_set_to_zero_reach_fal(run_cli, requests_log, make_image, tmp_path):
    photo = make_image(tmp_path / "photo.jpg", (256, 192))
    code, _, err = run_cli(
        "upscale", "--input_image", str(photo), "--tool", "clarity", "--prompts", "sharp",
        "--clarity_creativity", "0", "--clarity_resemblance", "0",
    )  # fmt: skip
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/clarity-upscaler")
    assert args["creativity"] == 0 and args["resemblance"] == 0  # not replaced by the defaults


@pytest.mark.parametrize("tool", ["bria", "flux"])
def test_outpaint_without_a_prompt_fails_before_anything_is_paid(
    run_cli, requests_log, make_image, tmp_path, tool
):
    image = make_image(tmp_path / "in.png", (128, 128))
    code, out, err = run_cli(
        "outpaint", "--input_image", str(image), "--target_width", "256",
        "--target_height", "256", "--tool", tool,
    )  # fmt: skip
    assert code == 2 and out == "" and "a prompt is required" in err
    assert not [e for e in requests_log() if e["method"] in ("POST", "PUT")]


# ----------------------------------------------------------------------------- Midjourney-style


def test_midjourney_parameters_in_the_prompt_become_fields(run_cli, requests_log):
    code, out, err = run_cli("text", "--prompts", "a cat on a roof --ar 16:9 --no dogs --seed 7")
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora")
    assert args["prompt"] == "a cat on a roof"
    assert args["image_size"] == {"width": 1360, "height": 768}
    assert args["seed"] == 7 and "negative_prompt" not in args  # FLUX [dev] takes none
    [path] = paths_from(out)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["original_prompt"] == "a cat on a roof --ar 16:9 --no dogs --seed 7"


def test_midjourney_parameters_permute_and_warn_about_unknown_ones(run_cli, requests_log):
    code, out, err = run_cli("text", "--prompts", "a fox {--ar 1:1,--ar 9:16} --stylize 250")
    assert code == 0, err
    sizes = [a["image_size"] for a in submits(requests_log(), "fal-ai/flux-lora")]
    assert sorted(map(str, sizes)) == sorted(
        map(str, [{"width": 1024, "height": 1024}, {"width": 768, "height": 1360}])
    )
    warnings = json.loads(paths_from(out)[0].with_suffix(".json").read_text())["warnings"]
    assert any("stylize" in w for w in warnings)


def test_midjourney_aspect_ratio_reaches_a_provider_command(run_cli):
    code, out, err = run_cli("chutes_image", "--prompts", "a lake --ar 3:2", "--sandbox")
    assert code == 0, err
    [path] = paths_from(out)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["parameters"]["prompt"] == "a lake"
    assert (sidecar["parameters"]["width"], sidecar["parameters"]["height"]) == (1248, 832)
    assert size_of(path) == (1248, 832)


def test_aspect_ratio_in_an_outpaint_prompt_keeps_the_canvas(
    run_cli, requests_log, make_image, tmp_path
):
    image = make_image(tmp_path / "in.png", (512, 256))
    code, _, err = run_cli(
        "outpaint", "--input_image", str(image), "--prompts", "a bay --ar 16:9",
        "--target_width", "1024", "--target_height", "512", "--border", "0",
    )  # fmt: skip
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/bria/expand")
    assert args["canvas_size"] == [1024, 512] and args["prompt"] == "a bay"


def test_bria_outpaint_without_genfill_needs_no_prompt(run_cli, requests_log, make_image, tmp_path):
    image = make_image(tmp_path / "in.png", (256, 256))
    code, out, err = run_cli(
        "outpaint", "--input_image", str(image), "--target_width", "512",
        "--target_height", "512", "--border", "0",
    )  # fmt: skip
    assert code == 0, err
    assert_saved(paths_from(out))
    [args] = submits(requests_log(), "fal-ai/bria/expand")
    assert args["canvas_size"] == [512, 512]
    assert not submits(requests_log(), "fal-ai/bria/genfill")


# ----------------------------------------------------------------------------- upscaler facts


@pytest.mark.parametrize("tool", ["aura_sr", "drct"])
def test_aura_sr_and_drct_send_upscale_factor_and_make_4x(
    run_cli, requests_log, make_image, tmp_path, tool
):
    """fal's AuraSR and DRCT take ``upscale_factor`` (4 only); ``upscaling_factor`` is a name
    fal ignores, so it is never sent."""
    src = make_image(tmp_path / "small.png", (96, 64))
    code, out, err = run_cli("upscale", "--input_image", str(src), "--tool", tool)
    assert code == 0, err
    log = requests_log()
    [args] = submits(log, UPSCALE_ENDPOINTS[tool])
    assert args["upscale_factor"] == 4
    assert "upscaling_factor" not in args
    [entry] = [
        e for e in log if e.get("endpoint") == UPSCALE_ENDPOINTS[tool] and e["method"] == "POST"
    ]
    assert not entry.get("ignored"), entry.get("ignored")
    [path] = paths_from(out)
    assert size_of(path) == (384, 256)


def test_aura_sr_refuses_a_factor_it_does_not_have_before_any_call(
    run_cli, requests_log, make_image, tmp_path
):
    src = make_image(tmp_path / "small.png", (96, 64))
    code, _, err = run_cli(
        "upscale", "--input_image", str(src), "--tool", "aura_sr", "--scale", "2"
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--scale 4" in lines[0] and "aura_sr" in lines[0], err
    assert [e for e in requests_log() if not e["path"].startswith("/_emulator")] == []
    assert not Path("generated_images").exists()


@pytest.mark.parametrize("tool", ["recraft_clarity", "recraft_creative"])
def test_recraft_upscalers_call_the_current_ids_with_a_png(
    run_cli, requests_log, make_image, fetch, tool
):
    """The Recraft upscalers are ``fal-ai/recraft/upscale/crisp|creative`` and take PNG input:
    a JPEG given to them is sent as PNG."""
    src = make_image(Path("photo.jpg"), (128, 96))
    code, out, err = run_cli("upscale", "--input_image", str(src), "--tool", tool)
    assert code == 0, err
    [args] = submits(requests_log(), UPSCALE_ENDPOINTS[tool])
    assert fetch(args["image_url"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert_saved(paths_from(out))


def test_the_summary_records_the_estimate(run_cli):
    """A run's summary keeps its estimated cost; the closing line shows it."""
    from twat_genai import TwatGenAiCLI

    cli = TwatGenAiCLI("out")
    cli.text("a {red,blue} kite")
    assert cli.last_summary is not None
    assert cli.last_summary.estimate.startswith("estimated cost $")
    code, _, err = run_cli("text", "a {red,[emulate:error=422] blue} kite")
    assert code == 1
    assert "2 items: 1 ok, 1 failed (estimated cost $" in err


def test_canny_preprocess_local_sends_an_edge_map_made_here(
    run_cli, requests_log, make_image, fetch
):
    """``--preprocess local`` makes the edge map on this machine, keeps it in the output
    folder (so reruns can check it) and sends it as the control image."""
    import io

    sketch = make_image(Path("sketch.png"), (128, 96))
    code, out, err = run_cli(
        "canny", "--input_image", str(sketch), "--prompts", "a ship", "--preprocess", "local"
    )
    assert code == 0, err
    [args] = submits(requests_log(), "fal-ai/flux-lora-canny")
    with Image.open(io.BytesIO(fetch(args["image_url"]))) as sent:
        assert sent.size == (128, 96)
        assert set(sent.convert("L").tobytes()) <= {0, 255}
    made = Path("generated_images/.inputs/sketch-edges.png")
    assert made.is_file() and "control image made here" in err
    [path] = paths_from(out)
    assert path.name.startswith("sketch_")
