"""``twat-genai``: parse, run, print. Quiet by default: saved paths on stdout (or JSON with
``--json``), one clear line per error on stderr; exit 0 ok, 1 provider failure, 2 bad input,
130 interrupted."""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["TwatGenAiCLI", "main"]


def __getattr__(name: str) -> Any:
    # The documented import path ``from twat_genai.cli import TwatGenAiCLI``, resolved lazily
    # so ``twat-genai --help`` does not load the library.
    if name == "TwatGenAiCLI":
        from twat_genai.engines.fal.commands import TwatGenAiCLI

        return TwatGenAiCLI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up makes objects that live as long as the process (modules, the parser, catalogs):
    # collecting while it runs finds nothing, and once frozen later collections skip them.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.unfreeze()
        gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    from twat_genai.cli.parser import build_parser, hoist_command, parse

    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parse(parser, hoist_command(args_in, parser))
    import shlex

    args.command_line = shlex.join(["twat-genai", *args_in])  # recorded in every sidecar
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    from twat_genai.cli.run import dispatch

    gc.freeze()
    gc.enable()
    try:
        return dispatch(args)
    except ValueError as exc:
        # Any model validation that slipped past the flag checks is still bad input: one line.
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError):
            raise
        from twat_genai.cli.output import error
        from twat_genai.core.errors import usage_error

        error(str(usage_error(exc)))
        return 2
