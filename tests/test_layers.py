"""The structure holds: layers import only downward (the import-linter contract in
pyproject.toml), no module imports itself through others, and no module is over 600 lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src" / "twat_genai"
MAX_LINES = 600


def test_layers_import_only_downward() -> None:
    """``lint-imports`` keeps the layers contract (core -> transport -> providers -> jobs ->
    engines/clients -> cli)."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    proc = subprocess.run(
        [exe], cwd=SRC.parents[1], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 kept, 0 broken" in proc.stdout


def test_no_import_cycles() -> None:
    """No chain of imports (lazy ones included) leads from a module back to itself."""
    graph = grimp.build_graph("twat_genai", include_external_packages=False)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if _is_package_face(module, target):
                continue
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def _is_package_face(module: str, target: str) -> bool:
    """A package's ``__init__`` handing on its submodules' names is not a cycle."""
    return target.startswith(module + ".") or module.startswith(target + ".")


def test_modules_stay_small() -> None:
    """Every module in src/ is at most 600 lines."""
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
