"""``run_sync``: one way to run async code from sync code, with or without a running loop."""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

from twat_genai.core.sync import run_sync

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="unset")


class Boom(ValueError):
    """A distinctive exception type to see it arrive unchanged."""


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def from_plain_code(call: Callable[[], Any]) -> Any:
    return call()


def from_a_running_loop(call: Callable[[], Any]) -> Any:
    async def inside() -> Any:
        asyncio.get_running_loop()  # a loop really runs in this thread here
        return call()

    return asyncio.run(inside())


CALLERS = pytest.mark.parametrize("caller", [from_plain_code, from_a_running_loop])


def test_runs_a_factory_from_plain_sync_code() -> None:
    assert run_sync(lambda: double(21)) == 42


def test_runs_a_coroutine_object_from_plain_sync_code() -> None:
    assert run_sync(double(4)) == 8


def test_the_factory_is_called_inside_the_loop_that_runs_it() -> None:
    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def factory() -> Any:
        created_in.append(asyncio.get_running_loop())  # raises outside a loop
        return which_loop()

    created_in: list[asyncio.AbstractEventLoop] = []
    ran_in = run_sync(factory)
    assert created_in == [ran_in]


def test_works_inside_a_running_event_loop_and_returns_the_value() -> None:
    outer: dict[str, Any] = {}

    async def where() -> tuple[int, asyncio.AbstractEventLoop]:
        return threading.get_ident(), asyncio.get_running_loop()

    async def notebook_cell() -> tuple[int, tuple[int, asyncio.AbstractEventLoop]]:
        outer["loop"] = asyncio.get_running_loop()
        value = run_sync(lambda: double(5))  # sync call from inside the loop
        return value, run_sync(where())

    value, (thread, loop) = asyncio.run(notebook_cell())
    assert value == 10
    # It ran on its own loop in another thread, not on (and not blocking into) the caller's.
    assert loop is not outer["loop"]
    assert thread != threading.get_ident()


@CALLERS
def test_exceptions_propagate_with_their_type(caller: Callable[[Callable[[], Any]], Any]) -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise Boom("no image")

    with pytest.raises(Boom, match="no image"):
        caller(lambda: run_sync(fails))
    with pytest.raises(Boom, match="no image"):
        caller(lambda: run_sync(fails()))


@CALLERS
def test_context_variables_set_by_the_caller_are_visible_inside(
    caller: Callable[[Callable[[], Any]], Any],
) -> None:
    async def read() -> str:
        return REQUEST_ID.get()

    def call() -> str:
        token = REQUEST_ID.set("req-7")
        try:
            return run_sync(read)
        finally:
            REQUEST_ID.reset(token)

    assert caller(call) == "req-7"
    assert REQUEST_ID.get() == "unset"


def test_ctrl_c_while_waiting_cancels_the_job_and_reaches_the_caller() -> None:
    """Ctrl-C in a notebook cell blocked in run_sync: the job is cancelled (its ``finally``
    runs), its thread is waited for, and the KeyboardInterrupt reaches the cell."""
    # Python runs signal handlers in the main thread: the caller must be it.
    assert threading.current_thread() is threading.main_thread()
    caller = threading.get_ident()
    started, cell_done = threading.Event(), threading.Event()
    seen: list[str] = []
    inner: dict[str, Any] = {}

    async def waits_forever() -> None:
        inner["loop"], inner["thread"] = asyncio.get_running_loop(), threading.current_thread()
        inner["never"] = never = asyncio.Event()
        started.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("returned")  # only through the safety net below

    def press_ctrl_c() -> None:
        started.wait()
        signal.pthread_kill(caller, signal.SIGINT)
        # Safety net for a run_sync that keeps waiting after Ctrl-C: end the job, so the test
        # fails (the job returned instead of being cancelled) rather than hangs.
        if not cell_done.wait(30):
            inner["loop"].call_soon_threadsafe(inner["never"].set)

    async def cell() -> None:
        # Ctrl-C raises KeyboardInterrupt, as in Jupyter (asyncio.run's own handler would only
        # cancel this task, which cannot run while run_sync blocks it).
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with pytest.raises(KeyboardInterrupt):
                run_sync(waits_forever)
        finally:
            signal.signal(signal.SIGINT, previous)
            cell_done.set()

    helper = threading.Thread(target=press_ctrl_c)
    helper.start()
    try:
        asyncio.run(cell())
    finally:
        cell_done.set()
        helper.join()
    assert seen == ["cancelled"]
    assert not inner["thread"].is_alive()  # waited for before the interrupt was re-raised
    assert inner["loop"].is_closed()


def test_an_interruption_before_the_job_starts_means_it_never_starts() -> None:
    """The caller is interrupted before the worker has begun: the job is not run at all (and a
    coroutine object is closed, not left un-awaited)."""
    from twat_genai.core.sync import _Worker

    ran: list[str] = []

    async def job() -> None:
        ran.append("ran")

    coroutine = job()
    work = _Worker(coroutine)
    assert work.cancel() is False  # nothing to wait for
    work.run()  # the worker thread, starting late
    assert work.finished.is_set()
    with pytest.raises(asyncio.CancelledError):
        work.outcome()
    assert ran == []
    assert coroutine.cr_frame is None  # closed
