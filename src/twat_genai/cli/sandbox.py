"""``--sandbox``: the built-in emulator in this process, and the environment pointing at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sandbox_env() -> Iterator[str]:
    """Start the emulator on a free port, point every provider at it, undo on exit."""
    from twat_genai.testing import running_emulator

    with running_emulator(port=0) as server:
        env = server.env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield server.root
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
