"""The command line: the parser built from the command table (:mod:`twat_genai.cli.flags`),
with flags accepted before or after the command. Imports nothing heavy: ``--help`` stays fast."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn

from twat_genai.cli.flags import COMMANDS

PROG = "twat-genai"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``twat-genai: error: FLAG: VALUE is wrong: FIX (see
    'twat-genai COMMAND --help')``, exit 2, instead of the whole usage text first."""

    def error(self, message: str) -> NoReturn:
        from twat_genai.core.redact import redact

        line = " ".join(_rewrite(message).split())
        self.exit(2, f"{PROG}: error: {redact(line)} (see '{self.prog} --help')\n")


#: ``argument --flag/--alias: detail``: how argparse words an error about one argument.
_ARGUMENT = re.compile(r"^argument (?P<name>[^:]+): (?P<detail>.*)$", re.DOTALL)
_CHOICE = re.compile(r"^invalid choice: (?P<value>'.*?'|\S+)")
_REQUIRED = "the following arguments are required: "


def _rewrite(message: str) -> str:
    """argparse's wording of an error, made to name the flag, the value and the fix."""
    match = _ARGUMENT.match(message)
    if match is None:
        if message.startswith(_REQUIRED):
            names = [n.split("/")[0] for n in message[len(_REQUIRED) :].split(", ")]
            return f"missing {' and '.join(names)}: add {'it' if len(names) == 1 else 'them'}"
        return message
    name, detail = match.group("name").split("/")[0], match.group("detail")
    choice = _CHOICE.match(detail)
    if name == "COMMAND" and choice is not None:
        return _unknown_command(choice.group("value").strip("'"))
    if detail == "expected one argument":
        detail += f": give it a value ({name}=VALUE for one starting with '-')"
    return f"{name}: {detail}"


def _unknown_command(word: str) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(command_names()), n=1)
    return f"{word!r} is not a command" + (f": did you mean {close[0]!r}?" if close else "")


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, with an unknown flag reported by the command it was given to
    (and the closest flag of that command)."""
    args, extras = parser.parse_known_args(list(argv))
    if extras:
        command = getattr(args, "command", None)
        target = _subparser(parser, command) if command else parser
        target.error(_unrecognized(extras, target))
    return args


def _unrecognized(extras: list[str], parser: argparse.ArgumentParser) -> str:
    first = extras[0]
    if not first.startswith("-") or first == "-":
        return f"unexpected argument {first!r}: put a prompt with spaces in quotes"
    import difflib

    flag = first.split("=", 1)[0]
    known = sorted(_value_flags(parser, every=True))
    close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
    return f"{flag}: not a flag of this command" + (f": did you mean {close[0]}?" if close else "")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
