"""The emulator side of the fault benchmark: an emulator with a fault plan, and its counters.

The benchmark asks whether a client under faults still saves every image while paying for
each job once. This module holds no client code: the client side drives a batch against the
emulator it starts and compares what it saved with what the emulator accepted.

    from bench.faults import emulator_process, provider_stats

    with emulator_process("429=0.2,5xx=0.05,reset=0.02,reset_after=0.02,seed=7") as emu:
        ...  # run a batch with emu.env (export lines of the emulator) in its environment
        fal = provider_stats(emu.root, "fal")
        assert fal["submissions"] == jobs_expected + fal["fault_reset_after"]  # e.g.

``emulator_process`` runs ``twat-genai emulator`` in a subprocess (the CLI's own flags, so
client and emulator do not share a CPU's interpreter lock); ``emulator_thread`` runs one in
this process for quick checks. Stats keys per provider: ``submissions`` (jobs created),
``cancels``, ``fault_429``, ``fault_5xx``, ``fault_reset``, ``fault_reset_after``,
``fault_truncate``, ``fault_drip``, plus ``requests``, ``polls``, ``results``, ``downloads``,
``uploads``, ``bytes_in``, ``bytes_out`` and app-specific ones (fal: ``completed``, ``runs``,
``cancels_unstopped``). Command line: ``.venv/bin/python bench/faults.py --faults SPEC``
prints the export lines, waits for Ctrl-C, then prints the counters.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Fault kinds as they appear in the stats (``fault_<kind>``).
KINDS = ("429", "5xx", "reset", "reset_after", "truncate", "drip")

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Emulator:
    """A running emulator: its root URL, the environment that points clients at it, and
    (for a subprocess) its process."""

    root: str
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = field(default=None, repr=False)

    def cpu_seconds(self) -> float:
        """User + system CPU of the emulator process so far (subprocess only)."""
        if self.proc is None:
            raise RuntimeError("an in-process emulator shares this process's CPU counters")
        import psutil  # type: ignore[import-untyped,unused-ignore]  # a dev dependency

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)


def _request(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with _NO_PROXY.open(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def stats(root: str) -> dict[str, Any]:
    """``GET /_emulator/stats``: totals at the top level, ``providers`` per provider."""
    result: dict[str, Any] = _request("GET", f"{root}/_emulator/stats")
    return result


def provider_stats(root: str, provider: str) -> dict[str, int]:
    """One provider's counters (every key present, zero when nothing happened)."""
    counters: dict[str, int] = stats(root)["providers"].get(provider, {})
    return counters


def faults_injected(root: str, provider: str | None = None) -> dict[str, int]:
    """Faults injected by kind, for one provider or all."""
    counters = stats(root) if provider is None else provider_stats(root, provider)
    return {kind: int(counters.get(f"fault_{kind}", 0)) for kind in KINDS}


def set_faults(root: str, spec: str) -> str:
    """Replace the fault plan (its draws start afresh); returns the plan as the server reads
    it. An unreadable plan raises ``urllib.error.HTTPError`` (400)."""
    answer: dict[str, str] = _request("POST", f"{root}/_emulator/faults", {"faults": spec})
    return answer["faults"]


def reset(root: str) -> None:
    """Forget jobs, files, the log and the counters, and restart the fault draws."""
    _request("POST", f"{root}/_emulator/reset", {})


@contextlib.contextmanager
def emulator_process(
    faults: str = "",
    *,
    latency: float = 0.0,
    capacity: int = 8,
    plain_images: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Emulator]:
    """``twat-genai emulator --port 0`` with ``faults`` in a subprocess, stopped on exit.

    ``plain_images`` (default on) serves one cached flat picture per size, so the emulator's
    CPU measures the protocol, not picture drawing.
    """
    argv = [sys.executable, "-m", "twat_genai", "emulator", "--port", "0"]
    argv += ["--latency", str(latency), "--capacity", str(capacity)]
    if faults:
        argv += ["--faults", faults]
    if plain_images:
        argv.append("--plain-images")
    argv += list(extra_args)
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    # Its own session: a Ctrl-C meant for this process must not stop it before it is read.
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        exports: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.strip():
                break
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = shlex.split(value)[0]
        if "TWAT_GENAI_FAL_BASE_URL" not in exports:
            raise RuntimeError(f"the emulator did not start (exit code {proc.wait(10)})")
        root = exports["TWAT_GENAI_FAL_BASE_URL"].removesuffix("/fal")
        yield Emulator(root, exports, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def emulator_thread(
    faults: str = "", *, latency: float = 0.0, capacity: int = 8, plain_images: bool = True
) -> Iterator[Emulator]:
    """The same emulator in a background thread of this process (quick checks, tests)."""
    from twat_genai.testing import running_emulator

    with running_emulator(
        faults=faults, latency=latency, capacity=capacity, plain_images=plain_images
    ) as server:
        yield Emulator(server.root, server.env())


def summary(root: str) -> str:
    """One line per provider: jobs accepted, cancels and faults injected."""
    lines = []
    for provider, counters in sorted(stats(root)["providers"].items()):
        if provider.startswith("_"):
            continue
        faults = ", ".join(f"{k} {counters.get(f'fault_{k}', 0)}" for k in KINDS)
        lines.append(
            f"{provider}: {counters.get('submissions', 0)} submissions accepted, "
            f"{counters.get('cancels', 0)} cancels, faults: {faults}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="", help="fault plan, e.g. 429=0.2,seed=7")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per job")
    parser.add_argument("--capacity", type=int, default=8, help="jobs at once per endpoint")
    parser.add_argument("--drawn", action="store_true", help="captioned pictures, not plain")
    args = parser.parse_args()
    with emulator_process(
        args.faults, latency=args.latency, capacity=args.capacity, plain_images=not args.drawn
    ) as emu:
        sys.stdout.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in emu.env.items()))
        sys.stdout.write("\n(Ctrl-C prints the counters and stops the emulator)\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
        print(summary(emu.root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
