"""The adaptive limiter: a 429 halves how many calls run at once, successes win it back (AIMD),
and waiting callers are let in as room appears. Event-driven, no timing."""

from __future__ import annotations

import asyncio

import pytest

from twat_genai.transport.limits import AdaptiveLimiter


def test_rate_limits_halve_down_to_one_and_successes_recover() -> None:
    limiter = AdaptiveLimiter(8, recover_after=2)
    limiter.on_rate_limited()
    assert limiter.limit == 4
    for _ in range(5):
        limiter.on_rate_limited()
    assert limiter.limit == 1  # never below one
    for _ in range(2 * 7):
        limiter.on_success()
    assert limiter.limit == 8
    for _ in range(10):
        limiter.on_success()
    assert limiter.limit == 8  # never above the configured maximum


def test_at_most_limit_holders_and_waiters_enter_as_room_appears() -> None:
    async def scenario() -> list[int]:
        limiter = AdaptiveLimiter(4, recover_after=1)
        limiter.on_rate_limited()  # room for 2
        release = asyncio.Event()
        peaks: list[int] = []

        async def call() -> None:
            async with limiter:
                peaks.append(limiter.active)
                await release.wait()

        tasks = [asyncio.ensure_future(call()) for _ in range(6)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert limiter.active == 2
        limiter.on_success()  # recovers one: a waiter enters at once
        await asyncio.sleep(0)
        assert limiter.active == 3
        release.set()
        await asyncio.gather(*tasks)
        assert limiter.active == 0
        return peaks

    peaks = asyncio.run(scenario())
    assert len(peaks) == 6 and max(peaks) <= 4


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def scenario() -> None:
        limiter = AdaptiveLimiter(1)
        await limiter.acquire()
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        limiter.release()
        assert limiter.active == 0
        await asyncio.wait_for(limiter.acquire(), 5)  # the slot is free, not lost
        assert limiter.active == 1

    asyncio.run(scenario())


def test_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be >= 1"):
        AdaptiveLimiter(0)
