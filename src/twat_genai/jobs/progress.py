"""Batch progress: a rich bar on stderr for people, plain events for library users.

The runner reports ``batch_started``, ``item_started``, ``item_submitted``, ``item_finished``
(with ``done``, ``total`` and ``counts``) and ``batch_finished`` through ``on_event(name, data)``.
:class:`ProgressBar` is one such consumer; rich is imported only when a bar is actually shown,
so piped, ``--json`` and ``--quiet`` runs never pay for it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

EventHook = Callable[[str, dict[str, Any]], None]


class ProgressBar:
    """Counts, rate and ETA on stderr while a batch runs."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._started = 0.0
        self._skipped = 0
        self._single = False

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        if name == "batch_started":
            self._single = int(data.get("total", 0)) <= 1
            self._start(int(data.get("total", 0)), int(data.get("skipped", 0)))
        elif name == "item_progress":
            self._part(int(data.get("done", 0)), int(data.get("total", 0)))
        elif name == "item_finished" and self._progress is not None:
            counts = data.get("counts") or {}
            bad = sum(v for k, v in counts.items() if k != "ok")
            text = f"{counts.get('ok', 0)} ok" + (f", {bad} not ok" if bad else "")
            done = int(data.get("done", 0))
            elapsed = time.monotonic() - self._started
            ran = done - self._skipped
            rate = f"{ran / elapsed:.1f}/s" if elapsed > 0 and ran > 0 else ""
            self._progress.update(self._task, completed=done, status=text, rate=rate)
        elif name == "batch_finished":
            self.close()

    def _part(self, done: int, total: int) -> None:
        """A provider's progress within one item (e.g. tiles): its own bar for a one-item run,
        the status text of a batch's bar."""
        if self._progress is None and self._single and total > 1:
            self._start(total, 0, label="working", force=True)
        if self._progress is None:
            return
        if self._single:
            self._progress.update(self._task, completed=done, total=total)
        else:
            self._progress.update(self._task, status=f"part {done}/{total}")

    def _start(self, total: int, skipped: int, *, label: str = "", force: bool = False) -> None:
        if self._progress is not None or (total <= 1 and not force):
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TextColumn("{task.fields[rate]}", justify="right"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            redirect_stdout=sys.stdout.isatty(),
            # Warnings and errors written to stderr while the bar is live print above it.
            redirect_stderr=True,
            transient=False,
        )
        label = label or "generating" + (f" ({skipped} already done)" if skipped else "")
        self._task = self._progress.add_task(label, total=total, status="", rate="")
        self._started, self._skipped = time.monotonic(), skipped
        self._progress.start()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_hook(*, json: bool = False, quiet: bool = False) -> ProgressBar | None:
    """A progress bar when a person watches stderr (a TTY) and output is not JSON or quiet."""
    if json or quiet or not sys.stderr.isatty():
        return None
    return ProgressBar()


def fan_out(*hooks: EventHook | None) -> EventHook | None:
    """One hook calling several (None ones dropped); None when there are none."""
    live = [h for h in hooks if h is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]

    def call(name: str, data: dict[str, Any]) -> None:
        for hook in live:
            hook(name, data)

    return call
