"""argparse types: each turns a flag's text into its value or raises one line saying what is
wrong with it and what to give instead. The parser prefixes the flag and appends where the
help is (:mod:`twat_genai.cli.parser`). Imports nothing heavy: ``--help`` stays fast."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

Type = Callable[[str], object]


def _bad(text: str, problem: str, fix: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{text!r} {problem}: {fix}")


def whole(text: str) -> int:
    """A whole number (negative too: a seed of -1 is a value, not a flag)."""
    try:
        return int(text)
    except ValueError:
        raise _bad(text, "is not a whole number", "give one such as 42") from None


def number(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise _bad(text, "is not a number", "give one such as 0.5") from None
    if not math.isfinite(value):
        raise _bad(text, "is not a finite number", "give one such as 0.5")
    return value


def at_least_one(text: str) -> int:
    """A count: a whole number of at least 1."""
    value = whole(text)
    if value < 1:
        raise _bad(text, "is below 1", "give a whole number of at least 1")
    return value


def above_zero(text: str) -> float:
    """A number above 0 (a factor, a time)."""
    value = number(text)
    if value <= 0:
        raise _bad(text, "is not above 0", "give a number above 0 such as 2")
    return value


def not_negative(text: str) -> float:
    """A number of at least 0 (a budget, a border, a latency)."""
    value = number(text)
    if value < 0:
        raise _bad(text, "is negative", "give a number of at least 0")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    value = number(text)
    if not 0 <= value <= 1:
        raise _bad(text, "is not between 0 and 1", "give a number such as 0.75")
    return value


def port(text: str) -> int:
    """A TCP port, 0 for any free one."""
    value = whole(text)
    if not 0 <= value <= 65535:
        raise _bad(text, "is not a port", "give a number from 1 to 65535 (0 = any free port)")
    return value


def seed_or_random(text: str) -> int | str:
    """A whole number, or ``random``."""
    if text == "random":
        return text
    try:
        return int(text)
    except ValueError:
        raise _bad(text, "is not a whole number or 'random'", "give one such as 42") from None


def one_of(choices: Sequence[str]) -> Type:
    """One of ``choices`` (the text as given); the error lists them and names the closest."""

    def choice(text: str) -> str:
        if text in choices:
            return text
        import difflib

        close = difflib.get_close_matches(text, choices, n=1)
        hint = f": did you mean {close[0]!r}?" if close else ""
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}{hint}")

    choice.__name__ = "choice"
    return choice


def not_blank(fix: str) -> Type:
    """Any text that is not empty or only spaces; ``fix`` says what to give."""

    def text_value(text: str) -> str:
        if not text.strip():
            raise _bad(text, "is empty", fix)
        return text

    text_value.__name__ = "text"
    return text_value


__all__ = [
    "above_zero",
    "at_least_one",
    "fraction",
    "not_blank",
    "not_negative",
    "number",
    "one_of",
    "port",
    "seed_or_random",
    "whole",
]
