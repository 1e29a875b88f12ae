"""Every command line in the README's examples runs as written against the emulator (input
files it names are made first; only ``emulator``, which serves until stopped, and a browser
window are left out)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from .test_cli_providers import providers_env  # noqa: F401 - the fixture

README = Path(__file__).resolve().parents[2] / "README.md"
#: Long-running or interactive: ``emulator`` serves until stopped; ``--open`` opens a browser.
SKIP = ("twat-genai emulator",)


def examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for raw in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", raw.strip())
            if line.startswith("twat-genai ") and not line.startswith(SKIP):
                found.append(line)
    return found


def prepare(argv: list[str], make_image: Callable[..., Path]) -> list[str]:
    """Make the files an example names; expand globs as a shell would."""
    for token in argv:
        if token.endswith((".png", ".jpg")) and "*" not in token and not Path(token).exists():
            make_image(Path(token), (96, 64))  # small: the local upscalers run for real
        if token.endswith(".jsonl"):
            lines = [{"prompt": "a red kite", "model": "fal-ai/flux/dev"}]
            lines.append({"prompt": "a blue kite", "model": "gpt-image-2"})
            Path(token).write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    expanded: list[str] = []
    for token in argv:
        if "*" in token:
            make_image(Path(token.replace("*", "example")), (64, 48))
            folder, _, pattern = token.rpartition("/")
            expanded += sorted(str(p) for p in Path(folder or ".").glob(pattern))
        elif token != "--open":
            expanded.append(token)
    return expanded


def test_the_readme_has_examples() -> None:
    assert len(examples()) >= 20


@pytest.mark.usefixtures("fal_env", "providers_env")
@pytest.mark.parametrize("line", examples())
def test_every_readme_command_runs_as_written(
    run_cli: Callable[..., tuple[int, str, str]], make_image: Callable[..., Path], line: str
) -> None:
    argv = prepare(shlex.split(line)[1:], make_image)
    if argv[0] == "gallery":  # the README runs it over the folder the example before made
        assert run_cli("text", "a kite", "--output_dir", argv[1])[0] == 0
    code, _, err = run_cli(*argv)
    assert code == 0, (line, err)
    assert "Traceback" not in err
