"""Concurrency limits that slow down when a provider says "too many" and recover after.

One :class:`AdaptiveLimiter` per provider: at most ``limit`` holders at once; a 429 halves the
effective limit (never below 1) and each run of successes raises it again by one, up to the
configured maximum (AIMD, as TCP does).
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType


class AdaptiveLimiter:
    """An async semaphore whose size shrinks on rate limits and grows back on success."""

    def __init__(self, limit: int, *, recover_after: int = 8) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.max_limit = limit
        self.limit = limit
        self.recover_after = recover_after
        self._active = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def active(self) -> int:
        return self._active

    async def acquire(self) -> None:
        if self._active < self.limit and not self._waiters:
            self._active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release_slot()
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        self._release_slot()

    def _release_slot(self) -> None:
        self._active -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._active < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._active += 1
                fut.set_result(None)

    def on_rate_limited(self) -> None:
        """A 429 arrived: halve the limit."""
        self.limit = max(1, self.limit // 2)
        self._successes = 0

    def on_success(self) -> None:
        """A call succeeded: after ``recover_after`` in a row, allow one more at once."""
        if self.limit >= self.max_limit:
            return
        self._successes += 1
        if self._successes >= self.recover_after:
            self._successes = 0
            self.limit += 1
            self._wake()

    async def __aenter__(self) -> AdaptiveLimiter:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
