"""The command line: the parser built from the command table (:mod:`twat_genai.cli.flags`),
with flags accepted before or after the command. Imports nothing heavy: ``--help`` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from twat_genai.cli.flags import COMMANDS

PROG = "twat-genai"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate and transform images (and video) with fal.ai, Chutes, "
        "OpenAI-compatible endpoints and Google Gemini. Files are saved with a JSON "
        "sidecar holding everything needed to reproduce them.",
        epilog="Flags may come before or after the command; --snake_case and --kebab-case "
        "spellings are the same flag. Run 'twat-genai COMMAND --help' for a command's flags.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (aliases, help_text, builder) in COMMANDS.items():
        builder(sub.add_parser(name, aliases=list(aliases), help=help_text, description=help_text))
    return parser


def _version() -> str:
    from twat_genai.core.version import __version__

    return f"{PROG} {__version__}"


def command_names() -> dict[str, str]:
    """Every accepted spelling of every command -> its canonical name."""
    names: dict[str, str] = {}
    for name, (aliases, _, _) in COMMANDS.items():
        for spelling in (name, *aliases):
            names[spelling] = name
            names[spelling.replace("_", "-")] = name
            names[spelling.replace("-", "_")] = name
    return names


def hoist_command(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """Move the command to the front so flags may come before it (``--json text ...``).

    The command is the first bare word that names a command and is not the value of the
    preceding flag. ``--model OPERATION`` (the older spelling, ``--model text``) names the
    command too, for the commands that have no ``--model`` option of their own.
    """
    names = command_names()
    takes_value = _value_flags(parser)
    args = _attach_dash_values(list(argv), takes_value, _value_flags(parser, every=True))
    skip = False
    command: str | None = None
    for i, token in enumerate(args):
        if skip:
            skip = False
            continue
        if token == "--":
            break
        if token.startswith("-"):
            skip = "=" not in token and token in takes_value
            continue
        if token in names:
            command = names[token]
            args = [*args[:i], *args[i + 1 :]]
        break
    model, args = _take_model(args)
    if model is not None:
        operation = names.get(model)
        if command is not None and "--model" in _value_flags(_subparser(parser, command)):
            args = [*args, "--model", model]  # the command's own --model (a model id)
        elif operation is None or "--model" in _value_flags(_subparser(parser, operation)):
            parser.error(f"--model {model!r} is not an operation: use a command such as text")
        elif command is not None and command != operation:
            parser.error(f"--model {model} contradicts the command {command}: give one of them")
        else:
            command = operation
    return [command, *args] if command is not None else args


def _take_model(args: list[str]) -> tuple[str | None, list[str]]:
    """Remove ``--model X`` / ``--model=X`` (before any ``--``) and return X."""
    for i, token in enumerate(args):
        if token == "--":
            break
        if token.startswith("--model="):
            return token.split("=", 1)[1], [*args[:i], *args[i + 1 :]]
        if token == "--model" and i + 1 < len(args):
            return args[i + 1], [*args[:i], *args[i + 2 :]]
    return None, args


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    raise KeyError(command)


def _value_flags(parser: argparse.ArgumentParser, *, every: bool = False) -> set[str]:
    """The option strings that take a value (``every``: all option strings), in all commands."""
    flags: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _value_flags(sub, every=every)
        elif action.option_strings and (every or action.nargs != 0):
            flags.update(action.option_strings)
    return flags


def _attach_dash_values(args: list[str], takes_value: set[str], flags: set[str]) -> list[str]:
    """``--filename_suffix -v2`` becomes ``--filename_suffix=-v2``: argparse would read a value
    starting with ``-`` as an unknown option. A value that is itself an option stays apart."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out += args[i:]
            break
        value = args[i + 1] if i + 1 < len(args) else None
        if (
            token.startswith("--")
            and token in takes_value
            and value is not None
            and value.startswith("-")
            and value != "--"
            and value.split("=", 1)[0] not in flags
        ):
            out.append(f"{token}={value}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out
