"""A provider another package registers through the ``twat_genai.providers`` entry point gets
the CLI, the catalog, the journal and resume with no edit to twat-genai: the test builds such a
package on disk (a module, its ``models.toml`` and a ``.dist-info`` with the entry point) and
runs the real console command against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = '''
"""Acme images: a third-party twat-genai provider."""
import os

from twat_genai.core.errors import ModelError
from twat_genai.testing.fake import FakeProvider


class AcmeProvider(FakeProvider):
    name = "acme"
    summary = "Acme images (a plugin)"
    catalog_file = "models.toml"
    model_patterns = ("acme-",)
    default_model = "acme-image"
    submissions = []

    async def generate(self, request, ctx):
        refuse = os.environ.get("ACME_REFUSE")
        if refuse and refuse in (request.prompt or ""):
            raise ModelError(f"acme refused {request.prompt!r}", provider=self.name)
        return await super().generate(request, ctx)
'''

CATALOG = """
[[model]]
id = "acme-image"
kind = "text-to-image"
title = "Acme pictures"
aliases = ["acme"]
max_images = 2
seed = true
size = { form = "wh", param = "size" }
map = { prompt = "prompt", seed = "seed", n = "n" }
price = { usd = 0.01, per = "image" }
source = "acme docs"
checked = "2026-11-30"
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the package ``acme_twat`` and its distribution metadata."""
    root = tmp_path_factory.mktemp("plugin")
    package = root / "acme_twat"
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN)
    (package / "models.toml").write_text(CATALOG)
    info = root / "acme_twat-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-twat\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[twat_genai.providers]\nacme = acme_twat:AcmeProvider\n"
    )
    return root


def cli(plugin: Path, cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console command, with the plugin importable (as if pip-installed)."""
    environ = {**os.environ, "PYTHONPATH": str(plugin), **env}
    for name in ("FAL_KEY", "TWAT_GENAI_MODELS", "ACME_REFUSE"):
        if name not in env:
            environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "twat_genai", *argv],
        check=False,
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugin_is_listed_with_its_models(plugin_path: Path, tmp_path: Path) -> None:
    """``list-providers`` shows it; ``models`` shows the entries it ships, alias included."""
    listed = cli(plugin_path, tmp_path, "list-providers", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    acme = next(r for r in rows if r["name"] == "acme")
    assert acme["key_set"] is True and acme["summary"] == "Acme images (a plugin)"
    models = cli(plugin_path, tmp_path, "models", "--provider", "acme", "--json")
    assert models.returncode == 0, models.stderr
    [entry] = [json.loads(line) for line in models.stdout.splitlines()]
    assert entry["ref"] == "acme:acme-image" and entry["aliases"] == ["acme"]
    assert entry["kind"] == "text-to-image" and "seed" in entry["fields"]


def test_plugin_runs_under_generate_and_resumes_from_the_journal(
    plugin_path: Path, tmp_path: Path
) -> None:
    """A batch on the plugin is journaled: after a failed item, the same command runs only
    that item again; the finished one is reported from the journal, not paid twice."""
    args = ("generate", "a {cat,dog}", "--provider", "acme", "--json")
    first = cli(plugin_path, tmp_path, *args, ACME_REFUSE="dog")
    assert first.returncode == 1
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted(line["status"] for line in lines) == ["failed", "ok"]
    saved = sorted(p.name for p in (tmp_path / "generated_images").glob("*.png"))
    assert len(saved) == 1
    second = cli(plugin_path, tmp_path, *args)
    assert second.returncode == 0, second.stderr
    images = sorted((tmp_path / "generated_images").glob("*.png"))
    assert len(images) == 2 and saved[0] in {p.name for p in images}
    sidecars = [json.loads(p.with_suffix(".json").read_text()) for p in images]
    assert {s["provider"] for s in sidecars} == {"acme"}
    assert {s["model"] for s in sidecars} == {"acme-image"}


def test_plugin_model_by_alias_and_by_provider_prefix(plugin_path: Path, tmp_path: Path) -> None:
    """Its alias and the ``provider:model`` form reach it like a built-in's."""
    for model in ("acme", "acme:acme-image"):
        run = cli(plugin_path, tmp_path, "generate", f"a {model} kite", "--model", model)
        assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "generated_images").glob("*.png"))) == 2
