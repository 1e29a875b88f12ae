"""``bench/faults.py``, the emulator side of the fault benchmark, is importable and does what
its client side relies on: an emulator with a plan, and counters to compare against."""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import AUTH

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


@pytest.fixture(scope="module")
def faults() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_faults", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _submit(root: str) -> int:
    req = urllib.request.Request(
        f"{root}/fal/queue/fal-ai/flux-lora", data=b'{"prompt": "x"}', method="POST"
    )
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", AUTH["Authorization"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_process_emulator_counts_faults_and_accepted_jobs(faults: ModuleType) -> None:
    with faults.emulator_process("fal:429=0.5,seed=1") as emu:
        assert emu.env["OPENAI_BASE_URL"].startswith(emu.root)
        codes = [_submit(emu.root) for _ in range(10)]
        fal = faults.provider_stats(emu.root, "fal")
        assert fal["submissions"] == codes.count(200)
        assert faults.faults_injected(emu.root, "fal")["429"] == codes.count(429) > 0
        assert "fal: " in faults.summary(emu.root)
        assert emu.cpu_seconds() > 0
    assert emu.proc is not None and emu.proc.returncode == 0


def test_thread_emulator_plan_changes_and_reset(faults: ModuleType) -> None:
    with faults.emulator_thread() as emu:
        assert _submit(emu.root) == 200
        assert faults.set_faults(emu.root, "fal:5xx=1") == "fal:5xx=1"
        assert _submit(emu.root) in (502, 504)
        assert faults.faults_injected(emu.root)["5xx"] == 1
        faults.reset(emu.root)
        assert faults.provider_stats(emu.root, "fal") == {}
        with pytest.raises(urllib.error.HTTPError):
            faults.set_faults(emu.root, "fal:nope=1")
