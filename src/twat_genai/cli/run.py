"""Run a parsed command line: one function per kind of command, errors mapped to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.cli import output
from twat_genai.core.errors import MissingKeyError, TwatGenAiError, UsageError

if TYPE_CHECKING:
    from twat_genai.jobs.pipeline import RunOptions

FAL_COMMANDS = ("text", "image", "canny", "depth", "upscale", "outpaint")
#: argparse destinations that steer the run rather than the request.
_RUN_FLAGS = {
    "command",
    "json",
    "sandbox",
    "verbose",
    "quiet",
    "concurrency",
    "expand_limit",
    "prompt",
    "prompts",
    "output_dir",
    "gallery",
    "provider",
    "preprocess",
}


def dispatch(args: argparse.Namespace) -> int:
    output.setup_logging(getattr(args, "verbose", False))
    try:
        from twat_genai.cli.info import apply_user_config

        apply_user_config(args)
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


def _rerun(args: argparse.Namespace) -> int:
    """``rerun SIDECAR``: the recorded request again, as a one-item batch (not journaled)."""
    from twat_genai.clients.rerun import arerun
    from twat_genai.core.settings import load_dotenv_once

    load_dotenv_once()
    seed = args.seed  # a whole number or "random" (checked by the parser)
    printer = _Printer(args)

    def start(bar: Any, summary: Any) -> Awaitable[Any]:
        options = run_options(args, printer, bar, summary)
        options.journal = False
        return arerun(args.sidecar, seed=seed, options=options)

    return _run_batch(args, start)


def _models(args: argparse.Namespace) -> int:
    from twat_genai.cli.models import models

    return models(args)


def _aliases(args: argparse.Namespace) -> int:
    from twat_genai.cli.models import aliases

    return aliases(args)


def _list_providers(args: argparse.Namespace) -> int:
    from twat_genai.cli.models import providers

    return providers(args)


def _metadata(args: argparse.Namespace) -> int:
    from twat_genai.cli.info import metadata

    return metadata(args)


def _loras(args: argparse.Namespace) -> int:
    from twat_genai.cli.info import loras

    return loras(args)


def _sizes(args: argparse.Namespace) -> int:
    from twat_genai.cli.info import sizes

    return sizes(args)


def _keys(args: argparse.Namespace) -> int:
    from twat_genai.cli.info import keys

    return keys(args)


def _emulator(args: argparse.Namespace) -> int:
    from twat_genai.testing.emulator.run import serve_args

    return serve_args(args)


def _gallery(args: argparse.Namespace) -> int:
    from twat_genai.gallery.page import write_gallery

    page = write_gallery(args.folder, args.out)
    output.emit_line(str(page))
    if args.open:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
    return 0


def _generate(args: argparse.Namespace) -> int:
    """Every generation command: expand prompts, run them as a batch, print as items finish."""
    from twat_genai.core.settings import load_dotenv_once

    load_dotenv_once()
    prompts = (
        args.prompts
        if getattr(args, "prompts", None) is not None
        else getattr(args, "prompt", None)
    )
    from twat_genai.cli.provider_commands import PROVIDER_COMMANDS
    from twat_genai.cli.sandbox import sandbox_env
    from twat_genai.engines.fal.commands import TwatGenAiCLI
    from twat_genai.jobs.progress import fan_out, progress_hook

    printer = _Printer(args)
    if args.command == "generate":
        return _any_model(args, prompts, printer)
    if args.command in PROVIDER_COMMANDS:
        return _provider(args, prompts, printer)
    from twat_genai.cli.local_commands import local_model, local_spec, preprocess_locally

    model = local_model(args)
    if model is not None:
        return _run_specs(args, [local_spec(args, model)], printer)
    if getattr(args, "preprocess", None) == "local":
        preprocess_locally(args)
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
    kwargs["on_event"] = fan_out(bar, announce)
    with sandbox_env() if args.sandbox else nullcontext():
        try:
            method(prompts=prompts, **kwargs)
        except MissingKeyError as exc:
            if args.command != "upscale":
                raise
            raise UsageError(
                f"{exc}; or upscale on this machine with --provider local "
                "(--tool realesrgan, realesrgan-x4plus or lanczos)"
            ) from None
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
    _finish(args, summary)
    return summary.exit_code


def _provider(args: argparse.Namespace, prompts: Any, printer: _Printer) -> int:
    from twat_genai.cli.provider_commands import PROVIDER_COMMANDS, run_provider_command
    from twat_genai.jobs.pipeline import expand_prompts

    command = PROVIDER_COMMANDS[args.command]
    expanded = expand_prompts(prompts, limit=args.expand_limit, required=command.needs_prompt)
    return _run_batch(
        args,
        lambda bar, summary: run_provider_command(
            args, expanded, run_options(args, printer, bar, summary)
        ),
    )


def _any_model(args: argparse.Namespace, prompts: Any, printer: _Printer) -> int:
    """``generate``: any model, from the flags or one job per line of ``--batch``."""
    from twat_genai.jobs.requests import Spec, parse_param, read_batch

    flags = Spec(
        prompt=prompts,
        model=args.model,
        provider=args.provider,
        images=list(args.input_image or []),
        mask=args.mask,
        image_size=args.image_size,
        aspect_ratio=args.aspect_ratio,
        seed=args.seed,
        num_images=args.num_images,
        negative_prompt=args.negative_prompt,
        resolution=args.resolution,
        guidance_scale=args.guidance_scale,
        num_inference_steps=args.num_inference_steps,
        strength=args.strength,
        lora=args.lora,
        params=dict(parse_param(p) for p in args.param or []),
    )
    specs = [s.merged(flags) for s in read_batch(args.batch)] if args.batch else [flags]
    return _run_specs(args, specs, printer)


def _run_specs(args: argparse.Namespace, specs: list[Any], printer: _Printer) -> int:
    """Run generic jobs (``generate``, a command's local form) as one batch."""
    from twat_genai.clients.generate import run_specs

    return _run_batch(
        args,
        lambda bar, summary: run_specs(
            specs,
            run_options(args, printer, bar, summary),
            filename_prefix=args.filename_prefix,
            expand_limit=args.expand_limit,
        ),
    )


def run_options(
    args: argparse.Namespace, printer: Any = None, bar: Any = None, summary: Any = None
) -> RunOptions:
    """How the command line wants its batch run: folder, names, journal, checks, budget."""
    from twat_genai.jobs.pipeline import RunOptions
    from twat_genai.jobs.progress import fan_out

    out_dir = Path(args.output_dir or "generated_images")
    if getattr(args, "output", None):
        out_dir = out_dir / args.output
    return RunOptions(
        output_dir=out_dir,
        prefix=args.filename_prefix,
        suffix=args.filename_suffix,
        command=args.command,
        journal=True,
        fresh=args.fresh,
        allow_retired=args.allow_retired,
        name_template=args.name,
        concurrency=args.concurrency,
        dry_run=args.dry_run,
        budget=args.budget,
        timeout=args.timeout,
        retry_lost=args.retry_lost,
        record={"command_line": getattr(args, "command_line", None)},
        on_outcome=printer,
        on_event=fan_out(bar, announce),
        summary=summary,
    )


def announce(name: str, data: dict[str, Any]) -> None:
    """Say on stderr when a command resumes its unfinished run, and what a provider wants
    people to know before the work (e.g. a long local run's estimate)."""
    if name == "item_notice":
        output.note(str(data.get("text", "")))
    if name == "run_resumed":
        output.note(
            f"resuming: {data['saved']} of {data['total']} items already saved "
            "(--fresh starts over)"
        )


def _run_batch(args: argparse.Namespace, start: Callable[[Any, Any], Awaitable[Any]]) -> int:
    """Run a batch (in the sandbox with ``--sandbox``) with a progress bar on a terminal; the
    summary decides the exit code; Ctrl-C says what was done and exits 130."""
    from twat_genai.cli.sandbox import sandbox_env
    from twat_genai.core.sync import run_sync
    from twat_genai.jobs.progress import progress_hook
    from twat_genai.jobs.runner import Summary

    bar = progress_hook(json=args.json, quiet=args.quiet)
    summary = Summary(keep_results=False)
    with sandbox_env() if args.sandbox else nullcontext():
        try:
            run_sync(lambda: start(bar, summary))
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            output.error("interrupted: " + summary.line())
            return 130
    _finish(args, summary)
    return int(summary.exit_code)


def _finish(args: argparse.Namespace, summary: Any) -> None:
    """The closing lines: a dry run's total, a failed batch's counts, or what a successful one
    had to try again; ``--gallery`` writes (or refreshes) the folder's page."""
    from twat_genai.jobs.plan import total_line

    planned = [o.result for o in summary.outcomes if o.status == "planned"]
    if planned:
        text = total_line(planned)
        output.emit_json({"total": text}) if args.json else output.emit_line(text)
        return
    line = summary.line() + (f" ({summary.estimate})" if summary.estimate else "")
    if summary.exit_code and len(summary.outcomes) > 1 and not args.json:
        output.warn(line)
    elif summary.stats and not args.json and not args.quiet:
        output.note(line)  # what was tried again to get there
    if getattr(args, "gallery", False):
        from twat_genai.gallery import write_gallery

        page = write_gallery(run_options(args).output_dir)
        output.note(f"gallery: {page}")


class _Printer:
    """Prints each finished item: paths (or one JSON object) for successes, a line on stderr
    for failures. Warnings are printed once each."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = args.json
        self.quiet = args.quiet
        self._warned: set[str] = set()

    def __call__(self, outcome: Any) -> None:
        result = outcome.result
        if outcome.status == "planned":
            record = result.record()
            if self.json:
                output.emit_json(record)
            else:
                args = json.dumps(
                    record.get("arguments", record.get("request")), ensure_ascii=False
                )
                output.emit_line(
                    f"#{outcome.index} {record['provider']} {record.get('endpoint') or record['model']}"
                    f" {result.cost.text()} {args}"
                )
            return
        if outcome.status == "ok":
            self._warn(getattr(result, "warnings", []) or [])
            if self.json:
                output.emit_json(
                    {
                        "index": outcome.index,
                        "status": "ok",
                        "prompt": outcome.item.label,
                        **_result_json(result),
                    }
                )
            elif not self.quiet:
                for path in _paths(result):
                    output.emit_line(path)
            return
        if self.json:
            output.emit_json(
                {
                    "index": outcome.index,
                    "status": outcome.status,
                    "prompt": outcome.item.label,
                    "error": outcome.message,
                }
            )
        # What was said about the request (a retired model sent anyway) explains the failure.
        self._warn(getattr(outcome.error, "warnings", []) or [])
        if not isinstance(outcome.error, asyncio.CancelledError):
            label = outcome.item.label
            output.error(
                f"{outcome.status}: {label[:60]}: {outcome.message}" if label else outcome.message
            )

    def _warn(self, warnings: list[str]) -> None:
        """Each warning once per run, on stderr (not with --quiet or --json)."""
        for w in warnings:
            if w not in self._warned and not self.quiet and not self.json:
                self._warned.add(w)
                output.warn(w)


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
    "models": _models,
    "rerun": _rerun,
    "aliases": _aliases,
    "list-providers": _list_providers,
    "emulator": _emulator,
    "gallery": _gallery,
    "metadata": _metadata,
    "loras": _loras,
    "sizes": _sizes,
    "keys": _keys,
}
