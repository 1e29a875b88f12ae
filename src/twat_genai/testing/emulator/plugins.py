"""Which provider emulators a server hosts: the built-in ones, then every installed plugin.

A plugin is any distribution that declares an entry point in the group ``twat_genai.emulators``
whose value is ``"module:install"``; ``install(server)`` mounts the plugin's app (for example
``server.mount("/myprovider", MyEmulator())``). So a provider package outside twat-genai gets
its sandbox with no edit here::

    [project.entry-points."twat_genai.emulators"]
    myprovider = "myprovider_emulator:install"

A plugin that fails to load is logged and skipped: one broken plugin must not take the
sandbox of every other provider down.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from .host import Host

logger = logging.getLogger("twat_genai.testing")

#: Entry-point group through which other packages add emulator apps.
ENTRY_POINT_GROUP = "twat_genai.emulators"

#: The emulators that ship with twat-genai, installed before any plugin.
BUILTIN_APPS: tuple[str, ...] = (
    "twat_genai.testing.emulator.fal:install",
    "twat_genai.testing.emulator.openai:install",
    "twat_genai.testing.emulator.gemini:install",
    "twat_genai.testing.emulator.chutes:install",
)


def _load(spec: str) -> Callable[[Any], Any]:
    module_name, _, attr = spec.partition(":")
    install: Callable[[Any], Any] = getattr(importlib.import_module(module_name), attr)
    return install


def install_apps(server: Host, *, plugins: bool = True) -> None:
    """Mount the built-in apps, then (with ``plugins``) every ``twat_genai.emulators`` one."""
    for spec in BUILTIN_APPS:
        _load(spec)(server)
    if not plugins:
        return
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            install = ep.load()
            install(server)
        except Exception:
            logger.warning(
                "emulator plugin %s (%s) failed to install", ep.name, ep.value, exc_info=True
            )
