"""Waiting on fal's queue over real HTTP: the status stream, and what happens when it goes
silent (a dead connection looks the same as a long quiet job)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from twat_genai.providers.fal.queue import FalQueue, fal_urls
from twat_genai.testing import EmulatorServer
from twat_genai.transport.http import HttpClient

pytestmark = pytest.mark.usefixtures("fal_env")


def _run(emulator: EmulatorServer, prompt: str, **queue_args: Any) -> tuple[Any, dict[str, Any]]:
    async def go() -> tuple[Any, dict[str, Any]]:
        http = HttpClient("fal", headers={"Authorization": "Key emulator-fal-key"})
        try:
            queue = FalQueue(http, fal_urls(f"{emulator.root}/fal"), **queue_args)
            job = await queue.submit("fal-ai/flux-lora", {"prompt": prompt})
            stats = await queue.wait(job)
            return stats, await queue.result(job)
        finally:
            await http.aclose()

    return asyncio.run(go())


def test_stream_sees_completion_with_one_status_request(emulator: EmulatorServer) -> None:
    stats, result = _run(emulator, "a quiet lake [emulate:slow=0.4]")
    assert stats.status_requests == 1
    assert result["images"]
    assert emulator.stats.snapshot()["polls"] == 1


def test_silent_stream_is_checked_and_reopened(emulator: EmulatorServer) -> None:
    # The job runs 1.2 s and its stream says nothing meanwhile (no logs asked for): with a
    # 0.3 s idle limit the client asks for the status, listens again, and still finishes.
    stats, result = _run(emulator, "a long night [emulate:slow=1.2]", stream_idle=0.3)
    assert result["images"]
    assert stats.status_requests >= 3  # stream, status check, stream again (at least)
    assert emulator.stats.snapshot()["polls"] == stats.status_requests
