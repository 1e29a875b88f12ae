"""Run a parsed command line: one function per kind of command, errors mapped to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sqlite3
from contextlib import nullcontext
from typing import Any

from twat_genai.cli import output
from twat_genai.core.errors import TwatGenAiError

FAL_COMMANDS = ("text", "image", "canny", "depth", "upscale", "outpaint")
#: argparse destinations that steer the run rather than the request.
_RUN_FLAGS = {
    "command",
    "json",
    "dry_run",
    "sandbox",
    "verbose",
    "quiet",
    "concurrency",
    "expand_limit",
    "prompt",
    "prompts",
    "output_dir",
}


def dispatch(args: argparse.Namespace) -> int:
    output.setup_logging(getattr(args, "verbose", False))
    try:
        handler = _HANDLERS.get(args.command, _generate)
        return handler(args)
    except TwatGenAiError as exc:
        output.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): stop quietly
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except sqlite3.Error as exc:  # the batch journal
        output.error(f"batch journal: {exc}")
        return 1
    except OSError as exc:  # the disk, not the provider: still one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        output.error(f"{exc.strerror or exc}{where}")
        return 1


def _version(args: argparse.Namespace) -> int:
    from twat_genai.core.version import __version__

    if args.json:
        output.emit_json({"version": __version__})
    else:
        output.emit_line(__version__)
    return 0


def _list_models(args: argparse.Namespace) -> int:
    from twat_genai.engines.fal.operations import UPSCALE_TOOLS, ModelTypes

    tools = {m: t for t, m in UPSCALE_TOOLS.items()}
    for m in ModelTypes:
        row = {"name": m.name, "endpoint": m.value, "operation": m.operation, "tool": tools.get(m)}
        if args.json:
            output.emit_json(row)
        else:
            extra = f"  (--tool {tools[m]})" if m in tools else ""
            output.emit_line(f"{m.name:<26} {m.value:<34} {m.operation}{extra}")
    return 0


def _list_providers(args: argparse.Namespace) -> int:
    from twat_genai.core.settings import first_env, load_dotenv_once
    from twat_genai.providers.registry import get_provider_class, provider_names

    load_dotenv_once()
    for name in provider_names():
        cls = get_provider_class(name)
        key_set = first_env(cls.key_env) is not None
        row = {"name": name, "keys": list(cls.key_env), "key_set": key_set, "summary": cls.summary}
        if args.json:
            output.emit_json(row)
        else:
            state = "set" if key_set else "not set"
            output.emit_line(f"{name:<8} {' or '.join(cls.key_env):<34} {state:<8} {cls.summary}")
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from twat_genai.testing.server import serve

    return serve(host=args.host, port=args.port, latency=args.latency, capacity=args.capacity)


def _gallery(args: argparse.Namespace) -> int:
    from twat_genai.gallery.command import run

    return run(args)


def _generate(args: argparse.Namespace) -> int:
    """Every generation command: expand prompts, run them as a batch, print as items finish."""
    from twat_genai.core.settings import load_dotenv_once

    load_dotenv_once()
    prompts = (
        args.prompts
        if getattr(args, "prompts", None) is not None
        else getattr(args, "prompt", None)
    )
    if args.dry_run:
        return _dry_run(args, prompts)
    from twat_genai.cli.provider_commands import PROVIDER_COMMANDS
    from twat_genai.cli.sandbox import sandbox_env
    from twat_genai.clients.commands import TwatGenAiCLI
    from twat_genai.jobs.progress import progress_hook

    printer = _Printer(args)
    if args.command in PROVIDER_COMMANDS:
        return _provider(args, prompts, printer)
    cli = TwatGenAiCLI(
        args.output_dir or "generated_images",
        verbose=args.verbose,
        concurrency=args.concurrency,
        expand_limit=args.expand_limit,
        on_outcome=printer,
        keep_results=False,  # each result is printed as it comes
    )
    method = getattr(cli, args.command)
    accepted = inspect.signature(method).parameters
    kwargs = {
        k: v
        for k, v in vars(args).items()
        if k not in _RUN_FLAGS and (k in accepted or "kw" in accepted)
    }
    bar = progress_hook(json=args.json, quiet=args.quiet)
    if bar is not None:
        kwargs["on_event"] = bar
    with sandbox_env() if args.sandbox else nullcontext():
        try:
            method(prompts=prompts, **kwargs)
        except Exception as exc:
            summary = cli.last_summary
            if summary is None or not any(exc is o.error for o in summary.outcomes):
                raise  # not an item's own error: validation, keys, the journal, a bug
            # Every item's error was printed as it finished; the summary decides the exit code.
        except KeyboardInterrupt:
            # Ctrl-C: running jobs were cancelled remotely; say what was done, exit 130.
            if bar is not None:
                bar.close()
            if cli.last_summary is None:
                raise
            output.error("interrupted: " + cli.last_summary.line())
            return 130
    summary = cli.last_summary
    assert summary is not None
    if summary.exit_code and len(summary.outcomes) > 1 and not args.json:
        output.warn(summary.line())
    return summary.exit_code


def _provider(args: argparse.Namespace, prompts: Any, printer: _Printer) -> int:
    from twat_genai.cli.provider_commands import PROVIDER_COMMANDS, run_provider_command
    from twat_genai.cli.sandbox import sandbox_env
    from twat_genai.core.sync import run_sync
    from twat_genai.jobs.pipeline import expand_prompts
    from twat_genai.jobs.progress import progress_hook
    from twat_genai.jobs.runner import Summary

    command = PROVIDER_COMMANDS[args.command]
    expanded = expand_prompts(prompts, limit=args.expand_limit, required=command.needs_prompt)
    bar = progress_hook(json=args.json, quiet=args.quiet)
    summary = Summary(keep_results=False)
    with sandbox_env() if args.sandbox else nullcontext():
        try:
            run_sync(
                lambda: run_provider_command(args, expanded, printer, on_event=bar, summary=summary)
            )
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            output.error("interrupted: " + summary.line())
            return 130
    if summary.exit_code and len(summary.outcomes) > 1 and not args.json:
        output.warn(summary.line())
    return int(summary.exit_code)


def _dry_run(args: argparse.Namespace, prompts: Any) -> int:
    from twat_genai.core.lora import parse_lora_spec
    from twat_genai.jobs.pipeline import expand_prompts

    selection = parse_lora_spec(getattr(args, "lora", None))
    for p in expand_prompts(
        prompts,
        limit=args.expand_limit,
        required=args.command in ("text", "image", "canny", "depth"),
    ):
        final = selection.apply_to_prompt(p) if selection.loras else p
        if args.json:
            output.emit_json({"prompt": p, "final_prompt": final, "loras": selection.records()})
        else:
            output.emit_line(final)
    return 0


class _Printer:
    """Prints each finished item: paths (or one JSON object) for successes, a line on stderr
    for failures. Warnings are printed once each."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = args.json
        self.quiet = args.quiet
        self._warned: set[str] = set()

    def __call__(self, outcome: Any) -> None:
        result = outcome.result
        if outcome.status == "ok":
            for w in getattr(result, "warnings", []) or []:
                if w not in self._warned and not self.quiet and not self.json:
                    self._warned.add(w)
                    output.warn(w)
            if self.json:
                output.emit_json(
                    {"status": "ok", "prompt": outcome.item.label, **_result_json(result)}
                )
            elif not self.quiet:
                for path in _paths(result):
                    output.emit_line(path)
            return
        if self.json:
            output.emit_json(
                {"status": outcome.status, "prompt": outcome.item.label, "error": outcome.message}
            )
        if not isinstance(outcome.error, asyncio.CancelledError):
            label = outcome.item.label
            output.error(
                f"{outcome.status}: {label[:60]}: {outcome.message}" if label else outcome.message
            )


def _paths(result: Any) -> list[str]:
    images = getattr(result, "images", None)
    if images is not None:
        return [str(i["path"]) for i in images if i.get("path")]
    return [str(f.path) for f in getattr(result, "files", []) if f.path]


def _result_json(result: Any) -> dict[str, Any]:
    if hasattr(result, "image_info"):
        return {
            "request_id": result.request_id,
            "images": result.images,
            "warnings": result.warnings,
        }
    return {
        "request_id": result.request_id,
        "provider": result.provider,
        "model": result.model,
        "files": [
            {
                "path": str(f.path),
                "metadata_path": str(f.metadata_path),
                "width": f.width,
                "height": f.height,
            }
            for f in result.files
            if f.path
        ],
        "warnings": result.warnings,
    }


_HANDLERS = {
    "version": _version,
    "list-models": _list_models,
    "list-providers": _list_providers,
    "emulator": _emulator,
    "gallery": _gallery,
}
