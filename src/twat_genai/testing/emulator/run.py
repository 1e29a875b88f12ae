"""Running the emulator: in a background thread (tests, ``--sandbox``) or in the foreground.

``serve()`` is what ``twat-genai emulator`` calls. Options it is not given come from the
environment: ``TWAT_GENAI_EMULATOR_PLAIN_IMAGES=1`` for plain pictures,
``TWAT_GENAI_EMULATOR_FETCH_REMOTE=1`` to let the emulator fetch input URLs beyond loopback,
and ``TWAT_GENAI_EMULATOR_FAULTS=SPEC`` for a fault plan (:mod:`.faults`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .faults import FaultSpecError
from .server import EmulatorServer


@contextlib.contextmanager
def running_emulator(**kwargs: Any) -> Iterator[EmulatorServer]:
    """Run an :class:`EmulatorServer` on its own event loop in a background thread.

    Sync code (the CLI's ``--sandbox``, tests) gets a started server and can reach its
    ``root`` and ``env()``; leaving the block stops it. ``kwargs`` go to the constructor
    (``port``, ``latency``, ``capacity``, ``plain_images``, ``fetch_remote``, ``faults``,
    ``apps``, ...).
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="twat-genai-emulator", daemon=True)
    thread.start()
    server: EmulatorServer | None = None
    try:

        async def _start() -> EmulatorServer:
            return await EmulatorServer(**kwargs).start()

        server = asyncio.run_coroutine_threadsafe(_start(), loop).result(timeout=30)
        yield server
    finally:
        if server is not None:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def export_lines(env: Mapping[str, str]) -> str:
    """``export NAME=VALUE`` lines (shell-quoted) followed by one blank line."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()) + "\n"


async def _serve_until_signal(server: EmulatorServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # the Windows event loop has no signal handlers
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    await server.start()
    sys.stdout.write(export_lines(server.env()))
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await server.stop()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: float = 0.0,
    capacity: int = 8,
    plain_images: bool | None = None,
    fetch_remote: bool | None = None,
    faults: str | None = None,
) -> int:
    """Run the emulator in the foreground until SIGINT/SIGTERM; returns the exit code (0, or
    2 for a fault plan that cannot be read).

    Prints the environment (``export NAME=VALUE`` lines, then a blank line) first, so a shell
    or a parent process can point the project at it. ``None`` options come from the
    environment (see the module docstring).
    """
    if plain_images is None:
        plain_images = _env_flag("TWAT_GENAI_EMULATOR_PLAIN_IMAGES")
    if fetch_remote is None:
        fetch_remote = _env_flag("TWAT_GENAI_EMULATOR_FETCH_REMOTE")
    if faults is None:
        faults = os.environ.get("TWAT_GENAI_EMULATOR_FAULTS") or None
    try:
        server = EmulatorServer(
            host=host,
            port=port,
            latency=latency,
            capacity=capacity,
            plain_images=plain_images,
            fetch_remote=fetch_remote,
            faults=faults,
        )
    except FaultSpecError as exc:
        sys.stderr.write(f"twat-genai emulator: --faults: {exc}\n")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signal(server))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m twat_genai.testing.server [--host H] [--port P] [--latency S] ...``."""
    parser = argparse.ArgumentParser(
        prog="twat-genai emulator", description="Run the local provider emulators."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per job")
    parser.add_argument("--capacity", type=int, default=8, help="concurrent jobs per endpoint")
    parser.add_argument(
        "--plain-images", action="store_true", default=None, help="one flat picture per size"
    )
    parser.add_argument(
        "--fetch-remote",
        action="store_true",
        default=None,
        help="fetch input URLs on any host (default: loopback only)",
    )
    parser.add_argument("--faults", metavar="SPEC", help="fault plan, e.g. 429=0.2,seed=7")
    return serve_args(parser.parse_args(argv))


def serve_args(args: argparse.Namespace) -> int:
    """:func:`serve` with the options of ``twat-genai emulator`` (this module's parser or the
    CLI's, which name them alike)."""
    return serve(
        host=args.host,
        port=args.port,
        latency=args.latency,
        capacity=args.capacity,
        plain_images=args.plain_images,
        fetch_remote=args.fetch_remote,
        faults=args.faults,
    )
