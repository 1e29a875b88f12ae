"""Every item's whole life is bounded: queue wait, running, result fetch, download and save.

Connect and read timeouts bound each request; they cannot bound a queue that never moves, a
server that answers a byte every few seconds or a chain of retries. The item deadline does: when
it passes, the item's work is cancelled (a queued job is cancelled remotely where the provider
can), nothing partial stays on disk, and the item fails saying how long it waited and where.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twat_genai.core.errors import ProviderTimeoutError
from twat_genai.providers.base import CallContext

T = TypeVar("T")

#: Seconds an item may take when the caller sets no ``timeout``, by request kind: images are
#: minutes at most even behind a busy queue; videos run for many minutes on their own.
DEFAULT_TIMEOUTS = {"image": 600.0, "edit": 600.0, "background_removal": 600.0, "video": 3600.0}


def timeout_for(kind: str, timeout: float | None) -> float:
    """The deadline of an item of ``kind``: the caller's, else the kind's default."""
    if timeout is not None:
        return timeout
    return DEFAULT_TIMEOUTS.get(kind, 600.0)


@dataclasses.dataclass
class _Watch:
    """What an item was doing, from its call events: when its job was submitted, when it
    started running, whether its remote work was over, what a cancel achieved."""

    forward: Callable[[str, dict[str, Any]], None] | None
    started: float = dataclasses.field(default_factory=time.monotonic)
    submitted: float | None = None
    running: float | None = None
    remote_done: bool = False
    cancel: str = ""

    def event(self, name: str, data: dict[str, Any]) -> None:
        now = time.monotonic()
        if name in ("submitted", "resumed") and self.submitted is None:
            self.submitted = now
        elif name == "status" and data.get("status") != "IN_QUEUE" and self.running is None:
            self.running = now
        elif name == "remote_done":
            self.remote_done = True
        elif name == "cancelled" and data.get("outcome"):
            self.cancel = str(data["outcome"])
        if self.forward is not None:
            self.forward(name, data)

    def reason(self, timeout: float) -> str:
        now = time.monotonic()
        queued = ((self.running or now) - self.submitted) if self.submitted is not None else 0.0
        text = f"timed out after {timeout:g} s (queued {queued:.0f} s)"
        if self.remote_done:
            text += "; the result was ready, its download did not finish"
        elif self.cancel:
            text += f"; {self.cancel}"
        return text


async def within(
    timeout: float,
    ctx: CallContext,
    run: Callable[[CallContext], Awaitable[T]],
    *,
    provider: str,
) -> T:
    """``run(ctx)`` bounded by ``timeout`` seconds; past it the work is cancelled (its own
    handlers cancel remote jobs and drop partial files) and a :class:`ProviderTimeoutError`
    says how long the item queued and what the cancel achieved."""
    watch = _Watch(ctx.on_event)
    task = asyncio.ensure_future(run(dataclasses.replace(ctx, on_event=watch.event)))
    try:
        await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if task.cancelled() or task.exception() is not None:
            raise ProviderTimeoutError(watch.reason(timeout), provider=provider, retryable=False)
    return task.result()
