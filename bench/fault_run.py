"""The client side of the fault benchmark: 200 items over the four providers (50 each) against
an emulator injecting faults, in three runs, each reporting items, valid images, retries,
duplicate submissions and time.

1. ``429=0.2,5xx=0.05,reset=0.02,truncate=0.02``: every item must be saved, each paid once.
2. the same plus ``reset_after=0.05``, without ``--retry-lost``: every item is saved or fails
   "answer lost after submit", and no item is submitted twice.
3. the same with ``--retry-lost``: every item is saved; the resubmissions are counted.

Run: ``.venv/bin/python bench/fault_run.py`` (about a minute); it prints a Markdown table.
The emulator runs in its own process (``bench/faults.py``) with plain pictures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.faults import emulator_process, provider_stats

PER_PROVIDER = 50
#: (model, generate settings, expected pixel size or aspect ratio)
MODELS = {
    "fal": ("fal-ai/flux/schnell", {"image_size": "1024x768"}, (1024, 768)),
    "chutes": ("FLUX.1-dev", {"image_size": "1024x768"}, (1024, 768)),
    "openai": ("gpt-image-2", {"image_size": "1024x768"}, (1024, 768)),
    "gemini": ("gemini-nano-banana-2.1", {"aspect_ratio": "4:3"}, (4, 3)),
}
BASE = "429=0.2,5xx=0.05,reset=0.02,truncate=0.02"
RUNS = (
    ("faults", f"{BASE},seed=7", ()),
    ("faults + reset_after, no --retry-lost", f"{BASE},reset_after=0.05,seed=7", ()),
    ("faults + reset_after, --retry-lost", f"{BASE},reset_after=0.05,seed=7", ("--retry-lost",)),
)


def batch(path: Path) -> int:
    lines = [
        json.dumps({"prompt": f"{provider} lighthouse {i}", "model": model, **settings})
        for provider, (model, settings, _) in MODELS.items()
        for i in range(PER_PROVIDER)
    ]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def valid(folder: Path) -> int:
    """Images that decode whole, at the size (or aspect ratio) asked for, with a sidecar."""
    from PIL import Image

    found = 0
    for path in folder.iterdir():
        if path.suffix not in (".png", ".jpg", ".webp"):
            continue
        provider = json.loads(path.with_suffix(".json").read_text())["provider"]
        expected = MODELS[provider][2]
        with Image.open(path) as img:
            img.load()
            w, h = img.size
        exact = (w, h) == expected
        # Gemini answers a ratio with its own table size (4:3 is 1184x864).
        ratio = expected[0] < 32 and abs(w / h - expected[0] / expected[1]) < 0.05
        found += exact or ratio
    return found


def one(name: str, faults: str, extra: tuple[str, ...]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, emulator_process(faults) as emu:
        jobs = Path(tmp) / "jobs.jsonl"
        items = batch(jobs)
        out = Path(tmp) / "out"
        env = {**os.environ, **emu.env, "NO_PROXY": "127.0.0.1,localhost"}
        argv = [sys.executable, "-m", "twat_genai", "generate", "--batch", str(jobs)]
        argv += ["--output_dir", str(out), "--concurrency", "16", *extra]
        started = time.monotonic()
        done = subprocess.run(
            argv, check=False, env=env, capture_output=True, text=True, timeout=900
        )
        elapsed = time.monotonic() - started
        stats = {p: provider_stats(emu.root, p) for p in MODELS}
        good = valid(out) if out.exists() else 0
    accepted = sum(s.get("submissions", 0) for s in stats.values())
    lost = done.stderr.count("answer lost after submit")
    saved = len(done.stdout.split())
    retries = re.search(r"(\d+) retries", done.stderr)
    resubmitted = re.search(r"(\d+) resubmitted", done.stderr)
    injected = {
        k: sum(s.get(f"fault_{k}", 0) for s in stats.values())
        for k in ("429", "5xx", "reset", "reset_after", "truncate")
    }
    return {
        "run": name,
        "exit": done.returncode,
        "items": items,
        "saved": saved,
        "valid": good,
        "lost": lost,
        "accepted": accepted,
        # Jobs paid for beyond one per saved or lost item: resubmissions.
        "duplicates": accepted - saved - lost,
        "retries": int(retries.group(1)) if retries else 0,
        "resubmitted": int(resubmitted.group(1)) if resubmitted else 0,
        "faults": ", ".join(f"{k} {v}" for k, v in injected.items()),
        "time": f"{elapsed:.1f} s",
    }


def main() -> int:
    rows = [one(*run) for run in RUNS]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
