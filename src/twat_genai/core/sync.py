"""Run async code from sync code, also where this thread already runs an event loop.

Sync callers include notebooks (Jupyter runs a loop in the main thread, so a bare
:func:`asyncio.run` raises there) and async frameworks calling a sync API; there the work runs
on a fresh loop in one worker thread, with the caller's context variables. An interruption of
the waiting caller (Ctrl-C) cancels the job there, waits for it to wind down, and propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar, cast

__all__ = ["run_sync"]

T = TypeVar("T")


class _Worker(Generic[T]):
    """The job on a fresh event loop, for one worker thread; cancellable from any thread at any
    moment (cancelled before it has started, it never starts)."""

    def __init__(self, job: Callable[[], Awaitable[T]] | Coroutine[Any, Any, T]) -> None:
        self._job = job
        self._lock = threading.Lock()
        self._started = self._cancelled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._value: T | None = None
        self._error: BaseException | None = None
        #: Set when the job's loop is closed (or the job was cancelled before it started).
        self.finished = threading.Event()

    def run(self) -> None:
        """The worker thread's body: :func:`asyncio.run` of the job, keeping its outcome."""
        with self._lock:
            if self._cancelled:
                self._error = asyncio.CancelledError()
                self.finished.set()
                return
            self._started = True
        try:
            self._value = asyncio.run(self._main())
        except BaseException as exc:  # handed to the caller, like concurrent.futures does
            self._error = exc
        finally:
            self.finished.set()

    async def _main(self) -> T:
        with self._lock:
            if self._cancelled:  # cancelled while the loop started: the job never runs
                self._close_job()
                raise asyncio.CancelledError
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        job = self._job
        return await (job() if callable(job) else job)

    def _close_job(self) -> None:
        if not callable(self._job):
            self._job.close()  # never awaited, and never will be: no warning

    def cancel(self) -> bool:
        """Cancel the job wherever it is; True if it has started (so :attr:`finished` will be
        set), False if it never will."""
        with self._lock:
            if self._cancelled:
                return self._started
            self._cancelled = True
            if not self._started:
                self._close_job()
                return False
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nothing to cancel
                loop.call_soon_threadsafe(task.cancel)
        return True

    def outcome(self) -> T:
        """The job's value, or its exception raised."""
        error, self._error = self._error, None
        if error is not None:
            try:
                raise error
            finally:
                del error  # no reference cycle through the traceback
        return cast(T, self._value)


def run_sync(job: Callable[[], Awaitable[T]] | Coroutine[Any, Any, T]) -> T:
    """Run ``job`` to completion and return its result (or raise its exception).

    ``job`` is preferably a zero-argument callable returning an awaitable, so the coroutine is
    created inside the loop that runs it; a coroutine object is accepted too. With no loop
    running in this thread it is :func:`asyncio.run`; otherwise the same runs in one worker
    thread (a copy of the caller's :mod:`contextvars` context) while this thread waits. If the
    wait is interrupted (``KeyboardInterrupt``, or any exception raised in this thread), the job
    is cancelled, its thread waited for, and the interruption re-raised; a second interruption
    stops waiting for the cancelled job.
    """

    async def main() -> T:
        return await (job() if callable(job) else job)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    context = contextvars.copy_context()
    work = _Worker(job)
    thread = threading.Thread(target=context.run, args=(work.run,), name="twat-genai-sync")
    try:
        thread.start()
        work.finished.wait()
    except BaseException:
        if work.cancel():  # it runs: let it see the cancellation and wind down
            work.finished.wait()
            thread.join()
        raise
    thread.join()
    return work.outcome()
