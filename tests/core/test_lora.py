"""LoRA library loading (lookup order, caching, errors) and --lora spec parsing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from twat_genai.core import lora as lora_mod
from twat_genai.core.errors import UsageError
from twat_genai.core.lora import (
    ENV_VAR,
    LoraRecord,
    LoraSelection,
    load_lora_library,
    parse_lora_spec,
)
from twat_genai.core.models import LoraWeight

BUNDLED = {
    "gstdrw style": [("glif/Gesture-Draw", 1.0)],
    "Sketch Smudge": [("strangerzonehf/Flux-Sketch-Smudge-LoRA", 1.0)],
    "2color illustration": [("strangerzonehf/2Color-Illustration", 1.2)],
    "shou_xin": [("hassanelmghari/shou_xin", 1.0)],
    "shou_xin, Simple Pencil sketch": [
        ("hassanelmghari/shou_xin", 0.8),
        ("prithivMLmods/Super-Pencil-Flux-LoRA", 1.2),
    ],
    "shou_xin, gstdrw style sketch": [
        ("hassanelmghari/shou_xin", 2.0),
        ("glif/Gesture-Draw", 0.4),
    ],
    "in the style of TOK a trtcrd tarot style": [("multimodalart/flux-tarot-v1", 1.0)],
    "shou_xin, Sketch Smudge": [
        ("hassanelmghari/shou_xin", 1.0),
        ("strangerzonehf/Flux-Sketch-Smudge-LoRA", 0.5),
    ],
}


@pytest.fixture(autouse=True)
def _isolated_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the user config dir at an empty folder and clear the env override."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda *a, **k: str(config))


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_bundled_library_has_the_eight_spec_entries() -> None:
    """The bundled file holds exactly the SPEC §5.3 entries with their scales."""
    library = load_lora_library()
    assert {k: [(r.url, r.scale) for r in v] for k, v in library.items()} == BUNDLED


def test_load_returns_a_copy() -> None:
    """Mutating a returned library does not change the cached one."""
    first = load_lora_library()
    first["shou_xin"].clear()
    del first["gstdrw style"]
    second = load_lora_library()
    assert len(second["shou_xin"]) == 1
    assert "gstdrw style" in second


def test_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TWAT_GENAI_LORA_LIB's entries add to the bundled library."""
    lib = _write(tmp_path / "mine.json", {"my style": [{"url": "me/style", "scale": 0.7}]})
    monkeypatch.setenv(ENV_VAR, str(lib))
    library = load_lora_library()
    assert library["my style"] == [LoraRecord(url="me/style", scale=0.7)]
    assert set(library) == {*BUNDLED, "my style"}
    sel = parse_lora_spec("my style")
    assert sel.loras == [LoraWeight(path="me/style", scale=0.7)]
    assert sel.triggers == ["my style"]


def test_env_override_missing_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A missing TWAT_GENAI_LORA_LIB file is a UsageError naming the variable and file."""
    missing = tmp_path / "nope.json"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(UsageError) as info:
        load_lora_library()
    assert ENV_VAR in str(info.value)
    assert str(missing) in str(info.value)


def test_env_override_beats_user_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The env variable names the user library instead of the config folder's file."""
    _write(Path(platformdirs.user_config_dir("twat-genai")) / "loras.json", {"user": []})
    monkeypatch.setenv(ENV_VAR, str(_write(tmp_path / "env.json", {"env": []})))
    assert list(load_lora_library()) == [*BUNDLED, "env"]


def test_user_config_file_is_used() -> None:
    """A loras.json in the platformdirs config dir adds to the bundled library; its entry
    wins over a bundled one of the same key."""
    user = Path(platformdirs.user_config_dir("twat-genai")) / "loras.json"
    _write(user, {"user key": [{"path": "u/v"}], "shou_xin": [{"url": "me/shou", "scale": 0.5}]})
    library = load_lora_library()
    assert library["user key"] == [LoraRecord(url="u/v", scale=1.0)]
    assert library["shou_xin"] == [LoraRecord(url="me/shou", scale=0.5)]
    assert set(library) == {*BUNDLED, "user key"}
    assert parse_lora_spec("shou_xin").loras == [LoraWeight(path="me/shou", scale=0.5)]


def test_edited_file_is_reloaded(tmp_path: Path) -> None:
    """The cache is keyed by mtime and size, so an edited file is read again."""
    lib = _write(tmp_path / "lib.json", {"a": []})
    assert list(load_lora_library(lib)) == ["a"]
    _write(lib, {"a": [], "bb": []})
    assert list(load_lora_library(lib)) == ["a", "bb"]


def test_explicit_missing_path(tmp_path: Path) -> None:
    """An explicit path that does not exist is a UsageError naming it."""
    with pytest.raises(UsageError, match=r"nope\.json does not exist"):
        load_lora_library(tmp_path / "nope.json")


def test_bad_json_names_file_and_position(tmp_path: Path) -> None:
    """Invalid JSON gives the file name and line/column."""
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": [\n', encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_lora_library(bad)
    message = str(info.value)
    assert str(bad.resolve()) in message
    assert "invalid JSON at line 3 column 1" in message


def test_bad_schema_names_file_and_field(tmp_path: Path) -> None:
    """A record with a non-numeric scale is rejected naming the file and entry."""
    bad = _write(tmp_path / "schema.json", {"k": [{"url": "a/b", "scale": "big"}]})
    with pytest.raises(UsageError) as info:
        load_lora_library(bad)
    assert "schema.json" in str(info.value)
    assert "k.0.scale" in str(info.value)


def test_import_reads_no_file() -> None:
    """Importing the module opens no file (checked in a fresh interpreter with an audit hook)."""
    code = (
        "import sys\n"
        "import twat_genai.core.errors, twat_genai.core.models\n"
        "opened = []\n"
        "sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == 'open' else None)\n"
        "import twat_genai.core.lora\n"
        "print([p for p in opened if p.endswith('.json')])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_parse_does_not_load_library_for_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """LoraWeight and dict specs need no library, so none is loaded."""

    def boom(path: Path | None = None) -> dict[str, list[LoraRecord]]:
        raise AssertionError("library loaded")

    monkeypatch.setattr(lora_mod, "load_lora_library", boom)
    sel = parse_lora_spec([LoraWeight(path="a/b", scale=0.3), {"url": "c/d"}])
    assert sel.loras == [LoraWeight(path="a/b", scale=0.3), LoraWeight(path="c/d")]


# --- spec parsing -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "  ", []])
def test_empty_specs(spec: object) -> None:
    """None, a blank string and an empty list select nothing."""
    sel = parse_lora_spec(spec)  # type: ignore[arg-type]
    assert sel.loras == [] and sel.triggers == []
    assert not sel
    assert sel.apply_to_prompt("a cat") == "a cat"


def test_whole_key_with_two_records_adds_trigger_once() -> None:
    """A key with two records gives two LoRAs and one trigger, added once to the prompt."""
    sel = parse_lora_spec("shou_xin, Simple Pencil sketch")
    assert sel.loras == [
        LoraWeight(path="hassanelmghari/shou_xin", scale=0.8),
        LoraWeight(path="prithivMLmods/Super-Pencil-Flux-LoRA", scale=1.2),
    ]
    assert sel.triggers == ["shou_xin, Simple Pencil sketch"]
    assert sel.apply_to_prompt("a cat") == "shou_xin, Simple Pencil sketch, a cat"
    assert sel.records() == [
        {"path": "hassanelmghari/shou_xin", "scale": 0.8},
        {"path": "prithivMLmods/Super-Pencil-Flux-LoRA", "scale": 1.2},
    ]


def test_key_with_scale_multiplies_and_keeps_trigger() -> None:
    """'shou_xin:0.8' uses the library record at 0.8 and still adds the trigger."""
    sel = parse_lora_spec("shou_xin:0.8")
    assert sel.records() == [{"path": "hassanelmghari/shou_xin", "scale": 0.8}]
    assert sel.triggers == ["shou_xin"]


def test_multi_record_key_with_scale_multiplies_each() -> None:
    """A factor multiplies every record of the entry."""
    sel = parse_lora_spec("shou_xin, gstdrw style sketch:0.5")
    assert [lw.scale for lw in sel.loras] == [1.0, 0.2]
    assert sel.triggers == ["shou_xin, gstdrw style sketch"]


def test_case_insensitive_key_uses_canonical_trigger() -> None:
    """Keys match case-insensitively when no exact match exists; the trigger is the real key."""
    sel = parse_lora_spec("SKETCH SMUDGE:2")
    assert sel.records() == [{"path": "strangerzonehf/Flux-Sketch-Smudge-LoRA", "scale": 2.0}]
    assert sel.triggers == ["Sketch Smudge"]


def test_case_sensitive_match_wins() -> None:
    """An exact-case key is preferred over a case-insensitive one."""
    library = {"Tok": [LoraRecord(url="a/upper")], "tok": [LoraRecord(url="a/lower")]}
    assert parse_lora_spec("tok", library).loras == [LoraWeight(path="a/lower")]
    assert parse_lora_spec("Tok", library).loras == [LoraWeight(path="a/upper")]


@pytest.mark.parametrize(
    ("spec", "path", "scale"),
    [("https://huggingface.co/x/y.safetensors:0.7", "https://huggingface.co/x/y.safetensors", 0.7),
     ("https://huggingface.co/x/y.safetensors", "https://huggingface.co/x/y.safetensors", 1.0),
     ("fal-ai/x", "fal-ai/x", 1.0), ("owner/name:1.5", "owner/name", 1.5),
     ("owner/name : 2", "owner/name", 2.0)],
)  # fmt: skip
def test_urls_and_repo_ids(spec: str, path: str, scale: float) -> None:
    """URLs and owner/name ids work with and without a scale, and add no trigger."""
    sel = parse_lora_spec(spec)
    assert sel.loras == [LoraWeight(path=path, scale=scale)]
    assert sel.triggers == []


def test_semicolon_phrases_in_order() -> None:
    """Phrases split on ';' combine LoRAs and triggers in order, each trigger once."""
    sel = parse_lora_spec("gstdrw style:2; fal-ai/x ;shou_xin;gstdrw style")
    assert [lw.path for lw in sel.loras] == [
        "glif/Gesture-Draw", "fal-ai/x", "hassanelmghari/shou_xin", "glif/Gesture-Draw",
    ]  # fmt: skip
    assert sel.loras[0].scale == 2.0
    assert sel.triggers == ["gstdrw style", "shou_xin"]
    assert sel.apply_to_prompt("a cat") == "gstdrw style, shou_xin, a cat"


def test_list_and_dict_specs() -> None:
    """Lists mix phrases, dicts (prompt = trigger) and LoraWeight objects."""
    sel = parse_lora_spec(
        [
            {"path": "a/b", "scale": 0.5, "prompt": "tok style"},
            "shou_xin:0.5",
            LoraWeight(path="https://x.test/l.safetensors", scale=0.9),
            {"url": "c/d"},
        ]
    )
    assert sel.records() == [
        {"path": "a/b", "scale": 0.5},
        {"path": "hassanelmghari/shou_xin", "scale": 0.5},
        {"path": "https://x.test/l.safetensors", "scale": 0.9},
        {"path": "c/d", "scale": 1.0},
    ]
    assert sel.triggers == ["tok style", "shou_xin"]


def test_single_dict_and_lora_weight() -> None:
    """A single dict or LoraWeight is accepted without a list."""
    assert parse_lora_spec({"path": "a/b", "scale": 2}).loras == [LoraWeight(path="a/b", scale=2)]
    assert parse_lora_spec(LoraWeight(path="a/b")).loras == [LoraWeight(path="a/b")]


@pytest.mark.parametrize(
    "spec",
    [{"scale": 1.0}, {"path": "a/b", "weight": 1}, {"path": "a/b", "scale": "x"},
     {"path": "a/b", "prompt": 3}, 42],
)  # fmt: skip
def test_bad_structured_specs(spec: object) -> None:
    """Malformed dicts and unsupported types are usage errors."""
    with pytest.raises(UsageError, match="invalid LoRA"):
        parse_lora_spec(spec)  # type: ignore[arg-type]


def test_unknown_phrase_suggests_close_keys() -> None:
    """An unknown name is a UsageError suggesting the nearest library key."""
    with pytest.raises(UsageError) as info:
        parse_lora_spec("shou_xn")
    assert "unknown LoRA 'shou_xn'" in str(info.value)
    assert "did you mean 'shou_xin'" in str(info.value)


def test_unknown_phrase_without_close_keys_lists_keys() -> None:
    """With nothing close, the library keys are listed."""
    with pytest.raises(UsageError, match=r"library keys: 'gstdrw style'"):
        parse_lora_spec("zzzzzz:0.5")


@pytest.mark.parametrize(
    ("spec", "entry"),
    [(";;", "entry 1 of 3"), ("a/b;;c/d", "entry 2 of 3"), (" ; ;", "entry 1 of 3"),
     ("shou_xin;", "entry 2 of 2"), (["a/b", " "], "entry ' '")],
)  # fmt: skip
def test_empty_entries_are_errors(spec: object, entry: str) -> None:
    """An empty entry between, before or after ';' (or in a list) is refused, naming which."""
    with pytest.raises(UsageError) as info:
        parse_lora_spec(spec)  # type: ignore[arg-type]
    assert f"empty LoRA {entry}" in str(info.value)


@pytest.mark.parametrize(
    ("spec", "path", "scale"),
    [("https://host:8080/x.safetensors", "https://host:8080/x.safetensors", 1.0),
     ("https://host:8080/x.safetensors:0.7", "https://host:8080/x.safetensors", 0.7),
     ("http://127.0.0.1:9/l.safetensors : 2", "http://127.0.0.1:9/l.safetensors", 2.0),
     ("https://host/x?rev=1:0.5", "https://host/x?rev=1", 0.5),
     ("https://host:8080", "https://host:8080", 1.0)],
)  # fmt: skip
def test_scale_is_after_the_last_colon_outside_the_url_authority(
    spec: str, path: str, scale: float
) -> None:
    """The colon of ``scheme://`` and ``host:port`` never starts a scale; the last colon after
    them does."""
    assert parse_lora_spec(spec).loras == [LoraWeight(path=path, scale=scale)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("https://x/y.safetensors:abc", "invalid LoRA scale 'abc'"),
     ("https://host:8080/x:", "invalid LoRA scale ''"),
     ("shou_xin:abc", "invalid LoRA scale 'abc'"),
     ("owner/name:1e999", "invalid LoRA scale '1e999'"),
     (":0.5", "has a scale but no name"),
     ("https://host:99999/x.safetensors", "malformed port"),
     ("https://:8080/x.safetensors", "has no host"),
     ("hf://owner/name", "the scheme 'hf://'"),
     ("https://host/a b.safetensors", "has a space"),
     ("https://host/x.safetensors::1", "has a ':' in its path"),
     ("https://host/x:1:2", "has a ':' in its path")],
)  # fmt: skip
def test_bad_scales_and_urls_are_errors(spec: str, message: str) -> None:
    """A scale that is not a number is refused, not sent as part of the path; LoRA URLs are
    checked like input URLs."""
    with pytest.raises(UsageError) as info:
        parse_lora_spec(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_unknown_name_with_a_scale_suggests_the_closest_key() -> None:
    """The suggestion is made for the name without its scale."""
    with pytest.raises(
        UsageError, match=r"unknown LoRA 'SKETCH SMUGE'.*did you mean 'Sketch Smudge'"
    ):
        parse_lora_spec("SKETCH SMUGE:0.5")


def test_non_finite_scale_is_an_error() -> None:
    """'nan' and 'inf' scales are refused."""
    with pytest.raises(UsageError, match="invalid LoRA scale"):
        parse_lora_spec("shou_xin:nan")


def test_apply_to_prompt_skips_present_triggers() -> None:
    """A trigger the prompt already starts with is not added again; others are."""
    sel = LoraSelection(triggers=["tok", "shou_xin"])
    assert sel.apply_to_prompt("shou_xin, a cat") == "tok, shou_xin, a cat"
    assert sel.apply_to_prompt("tok, shou_xin, a cat") == "tok, shou_xin, a cat"
    assert sel.apply_to_prompt("TOK a cat") == "shou_xin, TOK a cat"
    assert sel.apply_to_prompt("token cat") == "tok, shou_xin, token cat"
    assert sel.apply_to_prompt("") == "tok, shou_xin"


def test_apply_to_prompt_with_library_trigger_present() -> None:
    """The multi-record key's trigger is not repeated when the prompt starts with it."""
    sel = parse_lora_spec("shou_xin, Simple Pencil sketch")
    prompt = "shou_xin, Simple Pencil sketch, a cat"
    assert sel.apply_to_prompt(prompt) == prompt


def test_documented_spec_models_parse_like_their_dict_forms() -> None:
    """``LoraSpecEntry`` is one LoRA with its trigger; ``CombinedLoraSpecEntry`` scales a
    group; ``LoraLib`` validates a whole library."""
    from twat_genai.core.lora import CombinedLoraSpecEntry, LoraLib, LoraSpecEntry

    one = parse_lora_spec(LoraSpecEntry(path="owner/style", scale=0.7, prompt="in style X"))
    assert one.records() == [{"path": "owner/style", "scale": 0.7}]
    assert one.apply_to_prompt("a cat") == "in style X, a cat"
    group = CombinedLoraSpecEntry(
        entries=[LoraSpecEntry(path="a/b", scale=1.0), LoraSpecEntry(path="c/d", scale=0.5)],
        factor=0.8,
        prompt="duo",
    )
    sel = parse_lora_spec([group])
    assert sel.records() == [{"path": "a/b", "scale": 0.8}, {"path": "c/d", "scale": 0.4}]
    assert sel.triggers == ["duo"]
    lib = LoraLib.model_validate({"k": [{"url": "x/y", "scale": 2}]})
    assert lib.root["k"][0].url == "x/y"
    with pytest.raises(ValueError):
        LoraLib.model_validate({"k": [{"scale": 2}]})
