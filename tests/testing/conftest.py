"""Fixtures for the emulator tests: a server on 127.0.0.1 per test and an HTTP client for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from twat_genai.testing import EmulatorServer, running_emulator

AUTH = {"Authorization": "Key test-key-id:test-key-secret"}


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """A fresh emulator (latency 0, default capacity) running in a background thread."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with running_emulator() as server:
        yield server


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx2.Client]:
    """An httpx2 client sending a fal key, with a base URL at the emulator's root."""
    with httpx2.Client(base_url=emulator.root, headers=AUTH, timeout=10, trust_env=False) as c:
        yield c
