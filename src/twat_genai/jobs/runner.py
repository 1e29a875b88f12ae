"""Run many items with bounded concurrency; every item ends ``ok``, ``blocked``, ``failed`` or
``cancelled``, and one item's failure never loses the others."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from twat_genai.core.errors import BlockedError, CancelledJobError, TwatGenAiError

OK, BLOCKED, FAILED, CANCELLED = "ok", "blocked", "failed", "cancelled"


@dataclass
class Item:
    """One unit of work: a label for people, and the coroutine factory that does it."""

    label: str
    run: Callable[[], Awaitable[Any]]
    key: str = ""


@dataclass
class Outcome:
    item: Item
    status: str
    result: Any = None
    error: BaseException | None = None

    @property
    def message(self) -> str:
        return str(self.error) if self.error else ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every item succeeded; 130 if interrupted; the errors' own code otherwise."""
        if any(o.status == CANCELLED for o in self.outcomes):
            return 130
        codes = [
            o.error.exit_code if isinstance(o.error, TwatGenAiError) else 1
            for o in self.outcomes
            if o.status != OK
        ]
        return max(codes, default=0)

    def line(self) -> str:
        c = self.counts
        parts = [f"{c[s]} {s}" for s in (OK, BLOCKED, FAILED, CANCELLED) if c[s]]
        return f"{len(self.outcomes)} items: " + ", ".join(parts)


def classify(error: BaseException) -> str:
    if isinstance(error, BlockedError):
        return BLOCKED
    if isinstance(error, (CancelledJobError, asyncio.CancelledError, KeyboardInterrupt)):
        return CANCELLED
    return FAILED


async def run_batch(
    items: list[Item],
    *,
    concurrency: int = 4,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Run ``items`` at most ``concurrency`` at a time; results are reported as each finishes."""
    summary = Summary()
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(item: Item) -> None:
        async with sem:
            try:
                outcome = Outcome(item, OK, result=await item.run())
            except asyncio.CancelledError as exc:
                outcome = Outcome(item, CANCELLED, error=exc)
                summary.outcomes.append(outcome)
                raise
            except Exception as exc:
                outcome = Outcome(item, classify(exc), error=exc)
        summary.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        done = {id(o.item) for o in summary.outcomes}
        summary.outcomes += [Outcome(i, CANCELLED) for i in items if id(i) not in done]
        raise
    return summary
