"""When and how long to wait before trying an HTTP request again.

Delays follow the provider when it says (``retry-after-ms``, ``Retry-After`` in seconds or as
an HTTP date, Google's ``RetryInfo.retryDelay``), else ``min(base * 2**n, cap)`` with jitter.
Attempts and total waiting time are both bounded.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry; ``sleep`` is injectable so tests never wait."""

    attempts: int = 10
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 120.0
    total_time: float = 180.0
    statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep, compare=False)

    def backoff(self, attempt: int) -> float:
        """Exponential delay with jitter for retry number ``attempt`` (0-based)."""
        delay = min(self.base_delay * (2**attempt), self.max_delay)
        return float(delay * random.uniform(0.75, 1.0))


NO_RETRY = RetryPolicy(attempts=1)

#: Told of every retry made in the current task (``"retry"``, or what else was tried again): a
#: batch sets it per item so its summary can count them without the transport knowing of jobs.
retry_listener: ContextVar[Callable[[str], None] | None] = ContextVar(
    "twat_genai_retry_listener", default=None
)


def note_retry(kind: str = "retry") -> None:
    """Tell the current item's listener (if any) that something was tried again."""
    listener = retry_listener.get()
    if listener is not None:
        listener(kind)


def _seconds(text: str, scale: float = 1.0) -> float | None:
    """``text`` as a number of seconds (``scale`` converts milliseconds), never negative;
    None when it is not a finite number (``nan`` or ``inf`` would disable the wait)."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return max(value * scale, 0.0)


def parse_retry_after(headers: Mapping[str, str], body: Any = None) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said nonsense)."""
    value = headers.get("retry-after-ms")
    if value:
        seconds = _seconds(value, 1 / 1000.0)
        if seconds is not None:
            return seconds
    value = headers.get("retry-after")
    if value:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
        try:
            when = parsedate_to_datetime(value)
            return max(when.timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            pass
    return _google_retry_delay(body)


def _google_retry_delay(body: Any) -> float | None:
    """``google.rpc.RetryInfo {"retryDelay": "43s"}`` inside a Google error body."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            delay = str(item.get("retryDelay", ""))
            return _seconds(delay.strip().removesuffix("s"))
    return None
