"""Which providers exist: the built-ins and any registered by other packages.

Built-ins register through the same table a third party uses (``register``) or, from an
installed package, through the ``twat_genai.providers`` entry-point group
(``name = "package.module:ProviderClass"``). Classes load lazily, on first use.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from twat_genai.providers.base import Provider

_TARGETS: dict[str, str] = {
    "fal": "twat_genai.providers.fal:FalProvider",
    "chutes": "twat_genai.providers.chutes:ChutesProvider",
    "openai": "twat_genai.providers.openai:OpenAIProvider",
    "gemini": "twat_genai.providers.gemini:GeminiProvider",
}


def register(name: str, target: str | type[Provider]) -> None:
    """Add or replace a provider: ``target`` is a class or ``"module:Class"``."""
    if isinstance(target, str):
        _TARGETS[name] = target
    else:
        _TARGETS[name] = f"{target.__module__}:{target.__qualname__}"
    get_provider_class.cache_clear()


@cache
def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group="twat_genai.providers")}


def provider_names() -> list[str]:
    return list(dict.fromkeys([*_TARGETS, *_entry_points()]))


@cache
def get_provider_class(name: str) -> type[Provider]:
    target = _TARGETS.get(name) or _entry_points().get(name)
    if target is None:
        raise UsageError(f"unknown provider {name!r}: choose one of {', '.join(provider_names())}")
    module_name, _, attr = target.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), attr)
    return cls
