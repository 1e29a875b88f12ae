"""Fault scenarios requested from inside a prompt, so any client can trigger them unchanged.

A token ``[emulate:NAME]`` or ``[emulate:NAME=VALUE]`` anywhere in the prompt text selects a
scenario; several may be given as separate tokens or comma-separated (``[emulate:slow=1,blocked]``).
Unknown names are kept in :attr:`Scenarios.unknown` and otherwise ignored. Every provider's
emulator reads the same tokens; each maps them onto its own wire protocol:

- ``[emulate:blocked]``: the provider's safety outcome (fal: black images, ``has_nsfw_concepts`` true).
- ``[emulate:error=CODE]``: the job/call fails with HTTP ``CODE`` (any 4xx/5xx) in the provider's shape.
- ``[emulate:slow=SECONDS]``: processing takes ``SECONDS`` instead of the server's latency.
- ``[emulate:broken_url]``: the result points at a file URL that answers 500 (failed downloads).
- ``[emulate:ratelimit]``: the first request carrying this prompt answers 429; later ones succeed.
- ``[emulate:stuck]``: the job never leaves fal's queue; a synchronous provider never answers
  (until the client gives up). Either way the job was accepted (it counts as a submission).
- ``[emulate:drip]``: the result downloads slowly (a few bytes a second): fal's and OpenAI's
  result files, and the response itself where it carries the bytes (Gemini, Chutes, OpenAI
  ``b64_json``).
- ``[emulate:expire]`` or ``[emulate:expire=SECONDS]``: the result files answer 404 once
  ``SECONDS`` (default :data:`EXPIRE_SECONDS`) have passed since they were made, as fal's
  retention does after an hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\[emulate:([^\]]*)\]", re.IGNORECASE)

#: Upper bound on ``slow`` so a typo cannot hang a test run.
MAX_SLOW_SECONDS = 600.0
#: Default life of a result file under ``[emulate:expire]``.
EXPIRE_SECONDS = 0.2


@dataclass(frozen=True)
class Scenarios:
    """The scenarios found in one request; the defaults mean "behave normally"."""

    blocked: bool = False
    error: int | None = None
    slow: float | None = None
    broken_url: bool = False
    ratelimit: bool = False
    stuck: bool = False
    drip: bool = False
    expire: float | None = None
    unknown: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return any(
            (
                self.blocked,
                self.error,
                self.slow is not None,
                self.broken_url,
                self.ratelimit,
                self.stuck,
                self.drip,
                self.expire is not None,
            )
        )


NONE = Scenarios()


def _merge(items: Iterable[tuple[str, str]]) -> Scenarios:
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for name, value in items:
        if name == "blocked":
            values["blocked"] = True
        elif name == "broken_url":
            values["broken_url"] = True
        elif name in {"ratelimit", "rate_limit"}:
            values["ratelimit"] = True
        elif name in {"stuck", "drip"}:
            values[name] = True
        elif name == "expire":
            try:
                seconds = float(value) if value else EXPIRE_SECONDS
            except ValueError:
                unknown.append(f"{name}={value}")
                continue
            values["expire"] = min(max(seconds, 0.0), MAX_SLOW_SECONDS)
        elif name == "error":
            try:
                code = int(value or "500")
            except ValueError:
                unknown.append(f"{name}={value}")
                continue
            values["error"] = code if 400 <= code <= 599 else 500
        elif name == "slow":
            try:
                seconds = float(value or "1")
            except ValueError:
                unknown.append(f"{name}={value}")
                continue
            values["slow"] = min(max(seconds, 0.0), MAX_SLOW_SECONDS)
        else:
            unknown.append(f"{name}={value}" if value else name)
    return Scenarios(**values, unknown=tuple(unknown))


def parse_scenarios(*texts: str | None) -> Scenarios:
    """Scenarios named by ``[emulate:...]`` tokens in any of ``texts`` (``None`` is skipped)."""
    items: list[tuple[str, str]] = []
    for text in texts:
        if not text or "[emulate:" not in text.lower():
            continue
        for match in _TOKEN.finditer(text):
            for part in match.group(1).split(","):
                name, _, value = part.strip().partition("=")
                if name:
                    items.append((name.strip().lower(), value.strip()))
    return _merge(items) if items else NONE


def scenarios_in(args: Mapping[str, Any] | None, keys: Iterable[str] = ("prompt",)) -> Scenarios:
    """Scenarios from the string values of ``keys`` in a JSON request body."""
    if not isinstance(args, Mapping):
        return NONE
    return parse_scenarios(*(v for k in keys if isinstance(v := args.get(k), str)))


def strip_scenarios(text: str) -> str:
    """``text`` without its ``[emulate:...]`` tokens (what a model would have "seen")."""
    return re.sub(r"\s{2,}", " ", _TOKEN.sub("", text)).strip()
