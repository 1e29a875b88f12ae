"""Which providers exist: the built-ins and any registered by other packages.

Built-ins register through the same table a third party uses (``register``) or, from an
installed package, through the ``twat_genai.providers`` entry-point group
(``name = "package.module:ProviderClass"``). Classes load lazily, on first use.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError

if TYPE_CHECKING:
    from twat_genai.providers.base import Provider
    from twat_genai.providers.catalog import Catalog

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


_catalog: tuple[Any, Catalog] | None = None


def load_catalog() -> Catalog:
    """The catalog of every registered provider plus the user's files (rebuilt when the
    registry or the user's files change)."""
    global _catalog
    from twat_genai.providers.catalog import (
        build_catalog,
        current_pin,
        user_aliases_path,
        user_models_path,
    )

    pin = current_pin()
    if pin is not None:
        if pin.catalog is None:
            pin.catalog = build_catalog(get_provider_class(n) for n in provider_names())
        return pin.catalog
    names = tuple(provider_names())
    aliases = user_aliases_path()
    stamp = (names, _stamp(user_models_path()), _stamp(aliases if aliases.is_file() else None))
    if _catalog is None or _catalog[0] != stamp:
        _catalog = (stamp, build_catalog(get_provider_class(n) for n in names))
    return _catalog[1]


def _stamp(path: Any) -> tuple[str, int, int] | None:
    if path is None:
        return None
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size)


def resolve_alias(name: str) -> str:
    """The model id an alias names (the alias's provider part dropped: the caller's provider
    serves it, e.g. an OpenAI-compatible proxy serving a Gemini model); other names as given."""
    from twat_genai.providers.catalog import split_ref

    target = load_catalog().alias(name)
    return name if target is None else split_ref(target, provider_names())[1]


def resolve_model(spec: str, provider: str | None = None) -> tuple[str, str]:
    """``(provider, model id)`` for a ``--model`` value and an optional ``--provider``.

    ``provider:model`` always works (``fal:fal-ai/flux/dev``); an alias resolves to its target;
    a catalog id picks its provider; otherwise the providers' id patterns decide (``fal-ai/…``
    is fal, ``gpt-image-…`` OpenAI, ``gemini-…``/``imagen-…`` Gemini). An id that matches
    nothing, given without ``--provider``, is a usage error suggesting the ``provider:model``
    form.
    """
    import re

    from twat_genai.providers.catalog import split_ref

    names = provider_names()
    if provider is not None and provider not in names:
        raise UsageError(f"unknown provider {provider!r}: choose one of {', '.join(names)}")
    named, model = split_ref(spec, names)
    if named and provider and named != provider:
        raise UsageError(f"--model {spec} names provider {named}, but --provider is {provider}")
    provider = named or provider
    catalog = load_catalog()
    target = catalog.alias(model)
    if target is not None:
        aliased, model = split_ref(target, names)
        provider = provider or aliased
    entries = catalog.by_id(model)
    if provider is not None:
        mine = next((e for e in entries if e.provider == provider), None)
        return provider, mine.id if mine else model
    owners = list(dict.fromkeys(e.provider for e in entries))
    if len(owners) == 1:
        return owners[0], entries[0].id
    if len(owners) > 1:
        choices = ", ".join(f"{p}:{model}" for p in owners)
        raise UsageError(f"model {model!r} is offered by several providers: use one of {choices}")
    for name in names:
        patterns = get_provider_class(name).model_patterns
        if any(re.match(p, model) for p in patterns):
            return name, model
    raise UsageError(
        f"unknown model {model!r}: give its provider as provider:model (e.g. fal:{model}) "
        "or pass --provider; 'twat-genai models' lists the known ones"
    )
