"""Every item has a deadline covering its whole life. Past it the remote job is cancelled (the
emulator sees the cancel), nothing partial stays on disk, and the item fails saying how long it
took and queued. Real CLI and library against the fal emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.errors import ProviderTimeoutError

Run = Callable[..., tuple[int, str, str]]
Log = Callable[[], list[dict[str, Any]]]

pytestmark = pytest.mark.usefixtures("fal_env")


def test_timeout_ends_a_slow_job_cancels_it_and_says_so(run_cli: Run, requests_log: Log) -> None:
    started = time.monotonic()
    code, out, err = run_cli("text", "[emulate:slow=60] a cat", "--timeout", "2")
    elapsed = time.monotonic() - started
    assert code == 1, (out, err)
    assert elapsed < 10
    assert "failed: [emulate:slow=60] a cat: fal: timed out after 2 s (queued 0 s)" in err, err
    assert "cancel" in err  # what the cancel achieved
    cancels = [e for e in requests_log() if e["method"] == "PUT" and e["path"].endswith("/cancel")]
    assert len(cancels) == 1
    leftovers = (
        list(Path("generated_images").glob("*")) if Path("generated_images").exists() else []
    )
    assert [p for p in leftovers if p.suffix in (".png", ".jpg", ".json")] == []
    assert [p for p in leftovers if ".twat-tmp-" in p.name] == []


def test_a_job_within_its_deadline_is_saved(run_cli: Run) -> None:
    code, out, err = run_cli("text", "[emulate:slow=0.5] a cat", "--timeout", "30")
    assert code == 0, err
    assert out.strip().endswith(".jpg") or out.strip().endswith(".png"), out


def test_the_python_api_takes_a_timeout() -> None:
    from twat_genai import agenerate

    async def run() -> None:
        with pytest.raises(ProviderTimeoutError, match=r"timed out after 1\.5 s"):
            await agenerate("[emulate:slow=60] a cat", model="fal-ai/flux-lora", timeout=1.5)

    started = time.monotonic()
    asyncio.run(run())
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(run_cli: Run, value: str) -> None:
    code, _, err = run_cli("text", "a cat", "--timeout", value)
    assert code == 2
    assert "--timeout" in err
    assert not Path("generated_images").exists()
