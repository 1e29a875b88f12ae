"""Results people can trust: every model that takes a seed has it recorded; ``rerun`` sends the
same arguments again (uploaded inputs by content) and, in the sandbox, makes the same pixels;
results come back in expansion order however the jobs finish. Real CLI against the emulator."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from .test_cli_providers import providers_env  # noqa: F401 - the fixture

Run = Callable[..., tuple[int, str, str]]
Log = Callable[[], list[dict[str, Any]]]

SEEDED = ["fal-ai/flux-lora", "fal-ai/flux/schnell", "FLUX.1-dev", "hidream-i1-full"]
SEEDED += ["gemini-nano-banana-2.1", "gemini-3-pro-image"]


def submissions(log: Log) -> list[dict[str, Any]]:
    """The calls that ask for a picture (not uploads, polls or downloads)."""
    return [
        e
        for e in log()
        if e["method"] == "POST"
        and isinstance(e.get("args"), dict)
        and not e["path"].startswith("/_emulator")
        and "storage" not in e["path"]
        and "/files/upload" not in e["path"]
    ]


def saved(folder: str = "generated_images") -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix in (".png", ".jpg", ".webp"))


def same_pixels(a: Path, b: Path) -> bool:
    with Image.open(a) as x, Image.open(b) as y:
        return (
            x.size == y.size
            and not ImageChops.difference(x.convert("RGB"), y.convert("RGB")).getbbox()
        )


@pytest.mark.usefixtures("fal_env", "providers_env")
@pytest.mark.parametrize("model", SEEDED)
def test_a_model_that_takes_a_seed_records_the_one_it_used(run_cli: Run, model: str) -> None:
    code, _, err = run_cli("generate", "a cat", "--model", model)
    assert code == 0, err
    (image,) = saved()
    sidecar = json.loads(image.with_suffix(".json").read_text())
    assert isinstance(sidecar["seed"], int), sidecar["seed"]


@pytest.mark.usefixtures("fal_env", "providers_env")
def test_a_model_without_seeds_says_so(run_cli: Run) -> None:
    code, _, err = run_cli("generate", "a cat", "--model", "gpt-image-2")
    assert code == 0, err
    (image,) = saved()
    assert json.loads(image.with_suffix(".json").read_text())["seed"] == "not supported"


@pytest.mark.usefixtures("fal_env", "providers_env")
@pytest.mark.parametrize("model", [*SEEDED, "gpt-image-2"])
def test_rerun_sends_the_same_arguments_and_makes_the_same_pixels(
    run_cli: Run, requests_log: Log, model: str
) -> None:
    code, _, err = run_cli("generate", "a {red,blue} cat --ar 3:2", "--model", model)
    assert code == 0, err
    first = submissions(requests_log)
    originals = saved()
    assert len(first) == len(originals) == 2
    for image in originals:
        code, _, err = run_cli("rerun", str(image.with_suffix(".json")), "--output_dir", "again")
        assert code == 0, err
    again = submissions(requests_log)[2:]
    canon = lambda calls: sorted(json.dumps(c["args"], sort_keys=True) for c in calls)  # noqa: E731
    assert canon(again) == canon(first)
    remade = saved("again")
    assert len(remade) == 2
    by_prompt = {json.loads(p.with_suffix(".json").read_text())["prompt"]: p for p in remade}
    for image in originals:
        prompt = json.loads(image.with_suffix(".json").read_text())["prompt"]
        assert same_pixels(image, by_prompt[prompt])


@pytest.mark.usefixtures("fal_env")
def test_rerun_of_an_edit_sends_the_same_arguments_and_inputs_by_content(
    run_cli: Run, requests_log: Log, make_image: Callable[..., Path], fetch: Callable[[str], bytes]
) -> None:
    source = make_image(Path("in.png"), (96, 64))
    code, _, err = run_cli("image", "--input_image", str(source), "--prompts", "ink wash")
    assert code == 0, err
    (image,) = saved()
    code, _, err = run_cli("rerun", str(image), "--output_dir", "again")
    assert code == 0, err
    first, second = submissions(requests_log)
    urls = [a["args"].pop("image_url") for a in (first, second)]
    assert first["args"] == second["args"]
    digests = {hashlib.sha256(fetch(url)).hexdigest() for url in urls}
    assert len(digests) == 1
    (remade,) = saved("again")
    assert same_pixels(image, remade)


@pytest.mark.usefixtures("fal_env")
def test_results_come_back_in_expansion_order_when_the_first_finish_last(
    run_cli: Run,
) -> None:
    from twat_genai import TwatGenAiCLI

    colours = ["red", "orange", "yellow", "green", "blue", "purple"]
    prompt = "a {[emulate:slow=1] red,orange,yellow,green,blue,purple} kite"
    for _ in range(5):
        results = TwatGenAiCLI("out", concurrency=6).text(prompt, fresh=True)
        assert [r.original_prompt.split()[-2] for r in results] == colours
    code, out, err = run_cli("text", prompt, "--json", "--output_dir", "json", "--concurrency", "6")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["index"] for line in lines] == list(range(6))
    assert [line["prompt"].split()[-2] for line in lines] == colours


def as_version_1(sidecar: Path) -> None:
    """Rewrite a sidecar in the shape releases before schema 2 wrote: no ``schema_version``,
    seed, cost, command line or template; inputs as plain descriptions."""
    record = json.loads(sidecar.read_text())
    for key in ("schema_version", "seed", "cost", "command_line", "prompt_template"):
        record.pop(key, None)
    record["inputs"] = [entry["source"] for entry in record.get("inputs") or []]
    sidecar.write_text(json.dumps(record))


@pytest.mark.usefixtures("fal_env")
def test_sidecars_written_before_schema_2_are_rerun_and_read(
    run_cli: Run, requests_log: Log, make_image: Callable[..., Path]
) -> None:
    source = make_image(Path("in.png"), (96, 64))
    code, _, err = run_cli("image", "--input_image", str(source), "--prompts", "ink wash")
    assert code == 0, err
    (image,) = saved()
    as_version_1(image.with_suffix(".json"))
    code, out, err = run_cli("rerun", str(image), "--output_dir", "again")
    assert code == 0, err
    assert "was not hashed by the run that made this file" in err  # said, not refused
    first, second = submissions(requests_log)
    assert first["args"]["prompt"] == second["args"]["prompt"] and len(saved("again")) == 1
    code, out, err = run_cli("metadata", str(image), "--json")
    assert code == 0, err
    shown = json.loads(out.splitlines()[0])
    assert "ink wash" in json.dumps(shown)
