"""``twat-genai gallery``: the default page, -o, --open, a bad folder, and a light import."""

from __future__ import annotations

import shlex
import subprocess
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import sidecar_image

RunCli = Callable[..., tuple[int, str, str]]


def test_writes_index_html_and_prints_its_path(run_cli: RunCli, tmp_path: Path) -> None:
    """Without -o the page is FOLDER/index.html; its path is the only output."""
    sidecar_image(tmp_path / "a.png", {"prompt": "a cat"})
    code, out, err = run_cli("gallery", str(tmp_path))
    assert (code, err) == (0, "")
    assert out.strip() == str(tmp_path / "index.html")
    assert "a cat" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_out_and_open(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-o names the page (flags before the command work too); --open hands it to the browser."""
    sidecar_image(tmp_path / "run" / "a.png", {"prompt": "a cat"})
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    page = tmp_path / "g.html"
    code, out, _ = run_cli("--open", "gallery", str(tmp_path / "run"), "-o", str(page))
    assert code == 0 and out.strip() == str(page) and page.exists()
    assert opened == [page.resolve().as_uri()]
    assert not (tmp_path / "run" / "index.html").exists()


def test_missing_folder_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    """A folder that is not there exits 2 with one line naming it."""
    code, out, err = run_cli("gallery", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert "nope is not a folder" in err and "Traceback" not in err


def test_help_lists_the_command(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0 and "gallery" in out


def test_importing_the_gallery_loads_no_pillow(tmp_path: Path) -> None:
    """The parser and the gallery package import without Pillow (it loads for thumbnails)."""
    code = (
        "import sys\n"
        "import twat_genai.gallery, twat_genai.gallery.page\n"
        "from twat_genai.cli.parser import build_parser, hoist_command\n"
        "p = build_parser()\n"
        "p.parse_args(hoist_command(['gallery', '.', '--open'], p))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'PIL', 'pydantic'}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_readme_gallery_commands(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Gallery", as written (the browser stubbed): 8 sandbox images, 8 thumbnails."""
    readme = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    block = readme.split("## Gallery", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert [c[:2] for c in commands] == [["twat-genai", "text"], ["twat-genai", "gallery"]]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: True)
    for argv in commands:
        code, _, err = run_cli(*argv[1:])
        assert code == 0, err
    html = (tmp_path / "demo" / "index.html").read_text(encoding="utf-8")
    assert html.count("<img ") == 8 and "a yellow sailboat over the sea" in html
    assert len(list((tmp_path / "demo" / ".thumbs").iterdir())) == 8
