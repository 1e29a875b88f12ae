"""Run async code from sync code, also where this thread already runs an event loop.

Sync callers include notebooks (Jupyter runs a loop in the main thread, so a bare
:func:`asyncio.run` raises there) and async frameworks calling a sync API; there the work runs
on a fresh loop in one worker thread, with the caller's context variables.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(job: Callable[[], Awaitable[T]] | Coroutine[Any, Any, T]) -> T:
    """Run ``job`` to completion and return its result (or raise its exception).

    ``job`` is preferably a zero-argument callable returning an awaitable, so the coroutine is
    created inside the loop that runs it; a coroutine object is accepted too. With no loop
    running in this thread it is :func:`asyncio.run`; otherwise the same runs in one worker
    thread (a copy of the caller's :mod:`contextvars` context) while this thread waits.
    """

    async def main() -> T:
        return await (job() if callable(job) else job)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="twat-genai-sync") as pool:
        return pool.submit(context.run, asyncio.run, main()).result()
