"""``twat-genai loras`` and ``sizes``: the LoRA library with the file each entry comes from, and
the size presets with their pixels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twat_genai.core.sizes import ImageSizes, parse_image_size


def _rows(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_bundled_library(run_cli) -> None:
    """Without a user file every entry is bundled, with its records as url@scale."""
    code, out, _ = run_cli("loras", "--json")
    rows = {r["trigger"]: r for r in _rows(out)}
    assert code == 0
    assert len(rows) == 8
    assert rows["shou_xin, Simple Pencil sketch"] == {
        "trigger": "shou_xin, Simple Pencil sketch",
        "records": [
            {"url": "hassanelmghari/shou_xin", "scale": 0.8},
            {"url": "prithivMLmods/Super-Pencil-Flux-LoRA", "scale": 1.2},
        ],
        "source": "bundled",
        "file": None,
        "replaces_bundled": False,
    }
    _, text, _ = run_cli("loras")
    [line] = [x for x in text.splitlines() if x.startswith("shou_xin, Simple Pencil sketch ")]
    assert line.split("  ")[-2:] == [
        "hassanelmghari/shou_xin@0.8, prithivMLmods/Super-Pencil-Flux-LoRA@1.2",
        "[bundled]",
    ]


def test_user_file_adds_and_wins(run_cli, isolated: Path) -> None:
    """The config folder's loras.json adds its entries to the bundled ones; an entry with a
    bundled key replaces it, and the listing says so and names the file."""
    user = isolated / "loras.json"
    user.write_text(
        json.dumps(
            {
                "my ink style": [{"url": "me/ink", "scale": 0.6}],
                "shou_xin": [{"url": "me/shou_xin_v2", "scale": 0.9}],
            }
        )
    )
    code, out, _ = run_cli("loras", "--json")
    rows = {r["trigger"]: r for r in _rows(out)}
    assert code == 0
    assert len(rows) == 9
    assert rows["my ink style"]["source"] == "user"
    assert rows["my ink style"]["file"] == str(user)
    assert rows["shou_xin"]["records"] == [{"url": "me/shou_xin_v2", "scale": 0.9}]
    assert rows["shou_xin"]["replaces_bundled"] is True
    assert rows["gstdrw style"]["source"] == "bundled"
    _, text, _ = run_cli("loras")
    assert f"me/shou_xin_v2@0.9  [user {user}] (replaces the bundled entry)" in text
    code, out, _ = run_cli("text", "a cat", "--lora", "my ink style:0.5", "--dry-run", "--json")
    row, _total = _rows(out)
    assert row["arguments"]["loras"] == [{"path": "me/ink", "scale": 0.3}]
    assert row["arguments"]["prompt"] == "my ink style, a cat"


def test_env_library_is_named(run_cli, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TWAT_GENAI_LORA_LIB's file is the user library (the config folder's is then unused)."""
    (isolated / "loras.json").write_text(json.dumps({"unused": []}))
    lib = Path("team.json")
    lib.write_text(json.dumps({"team style": [{"url": "team/style"}]}))
    monkeypatch.setenv("TWAT_GENAI_LORA_LIB", str(lib))
    _, out, _ = run_cli("loras", "--json")
    rows = {r["trigger"]: r for r in _rows(out)}
    assert "unused" not in rows
    assert (rows["team style"]["source"], rows["team style"]["file"]) == (
        "TWAT_GENAI_LORA_LIB",
        str(lib),
    )
    _, text, _ = run_cli("loras")
    assert f"team/style@1  [TWAT_GENAI_LORA_LIB {lib}]" in text


def test_broken_user_library_is_one_line(run_cli, isolated: Path) -> None:
    """A broken user library is the library's own one-line error, exit 2."""
    (isolated / "loras.json").write_text("{")
    code, out, err = run_cli("loras")
    assert (code, out) == (2, "")
    assert "invalid JSON" in err and err.count("\n") == 1


def test_sizes(run_cli) -> None:
    """Every preset with its pixels and the other name some accept; both names parse back to
    the preset."""
    code, out, _ = run_cli("sizes", "--json")
    rows = _rows(out)
    assert code == 0
    assert [r["name"] for r in rows] == [m.name for m in ImageSizes]
    assert rows[5] == {"name": "HD", "width": 1024, "height": 576, "also": "landscape_16_9"}
    assert rows[-1] == {"name": "ULTRA", "width": 1344, "height": 768, "also": None}
    for row in rows:
        for spelling in (row["name"], row["also"]):
            if spelling is not None:
                assert parse_image_size(spelling) is ImageSizes[str(row["name"])]
    _, text, _ = run_cli("sizes")
    assert text.splitlines()[0].split() == ["SQ", "1024x1024", "square_hd"]
    assert text.splitlines()[-1].split() == ["ULTRA", "1344x768"]
