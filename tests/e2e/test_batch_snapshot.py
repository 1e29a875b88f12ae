"""A batch runs what it checked: files the user edits while it runs (the LoRA library, the
model catalog and aliases) change later batches, not the jobs already checked, priced and
keyed; and a task that outlives its batch reads the files again."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twat_genai import TwatGenAiCLI
from twat_genai.core.models import ImageGenerationRequest
from twat_genai.core.settings import user_config_dir
from twat_genai.jobs.pipeline import Job, RunOptions, run_jobs
from twat_genai.jobs.runner import Outcome
from twat_genai.providers import catalog
from twat_genai.testing.fake import FakeProvider


def _library() -> Path:
    path = user_config_dir() / "loras.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save(path: Path, text: str) -> None:
    """Write ``text`` with a later mtime (a save in the same clock tick still counts)."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _sent_loras(log: list[dict[str, Any]]) -> list[Any]:
    return [
        e["args"].get("loras")
        for e in log
        if e["method"] == "POST" and e["status"] == 200 and e.get("endpoint") == "fal-ai/flux-lora"
    ]


@pytest.mark.usefixtures("fal_env")
def test_a_library_edit_during_a_batch_does_not_change_its_jobs(
    tmp_path: Path, requests_log: Callable[[], list[dict[str, Any]]]
) -> None:
    lib = _library()
    _save(lib, json.dumps({"mystyle": [{"url": "owner/first", "scale": 1.0}]}))

    def edit(name: str, data: dict[str, Any]) -> None:
        if name == "item_started" and data["label"] == "a dog":
            _save(lib, json.dumps({"mystyle": [{"url": "owner/second", "scale": 1.0}]}))

    cli = TwatGenAiCLI(tmp_path / "out", concurrency=1)
    cli.text(["a cat", "a dog"], lora="mystyle", on_event=edit)
    first = [{"path": "owner/first", "scale": 1.0}]
    assert _sent_loras(requests_log()) == [first, first]


@pytest.mark.usefixtures("fal_env")
def test_a_library_broken_during_a_batch_fails_no_item(tmp_path: Path) -> None:
    lib = _library()
    _save(lib, json.dumps({"mystyle": [{"url": "owner/first", "scale": 1.0}]}))

    def edit(name: str, data: dict[str, Any]) -> None:
        if name == "item_started" and data["label"] == "a dog":
            _save(lib, '{"mystyle": [')  # a half-written save

    cli = TwatGenAiCLI(tmp_path / "out", concurrency=1)
    cli.text(["a cat", "a dog", "a fox"], lora="mystyle", on_event=edit)
    assert cli.last_summary is not None
    assert [o.status for o in cli.last_summary.outcomes] == ["ok", "ok", "ok"]


def test_a_task_outliving_its_batch_reads_the_aliases_again(tmp_path: Path) -> None:
    aliases = catalog.user_aliases_path()
    aliases.parent.mkdir(parents=True, exist_ok=True)

    async def main() -> dict[str, str]:
        done = asyncio.Event()
        spawned: list[asyncio.Future[dict[str, str]]] = []

        async def follow_up() -> dict[str, str]:  # started during the batch, copying its context
            await done.wait()
            _save(aliases, json.dumps({"kite": "fake-image"}))
            return catalog.read_user_aliases()

        def on_outcome(outcome: Outcome) -> None:
            spawned.append(asyncio.ensure_future(follow_up()))

        async with FakeProvider() as provider:
            await run_jobs(
                provider,
                [Job(ImageGenerationRequest(prompt="x", seed=1))],
                RunOptions(output_dir=tmp_path, on_outcome=on_outcome),
            )
        done.set()
        return await spawned[0]

    assert asyncio.run(main()) == {"kite": "fake-image"}
