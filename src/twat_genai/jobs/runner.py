"""Run many items with bounded concurrency; every item ends ``ok``, ``blocked``, ``failed`` or
``cancelled``, and one item's failure never loses the others.

With a :class:`~twat_genai.jobs.journal.Journal` a batch is resumable: items the journal has as
``ok`` (with their files still on disk) are reported without running, items with a recorded
provider handle re-attach to that job instead of submitting again, and the rest run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import (
    AnswerLostError,
    BlockedError,
    CancelledJobError,
    TwatGenAiError,
)
from twat_genai.providers.base import CallContext
from twat_genai.transport.retry import retry_listener

if TYPE_CHECKING:
    from twat_genai.jobs.journal import Entry, Journal

log = logging.getLogger("twat_genai.jobs")

OK, BLOCKED, FAILED, CANCELLED = "ok", "blocked", "failed", "cancelled"
#: Times ``retry_lost`` sends an item whose answer was lost again.
LOST_RESUBMISSIONS = 3


def queued_ahead(concurrency: int) -> int:
    """Items a batch keeps submitted beyond ``concurrency`` on a provider with its own queue:
    one in eight, at least one. Each waits in the provider's queue (free until it starts) and
    starts the moment a running job ends, where a new submission would come a round trip and
    the client's handling of the jobs that just ended later, after every wave of jobs."""
    return -(-max(1, concurrency) // 8)


#: A dry run's outcome: described, not run.
PLANNED = "planned"

#: ``on_event(name, data)``: batch progress for progress bars and library users.
EventHook = Callable[[str, dict[str, Any]], None]


@dataclass(slots=True)
class Item:
    """One unit of work: a label for people, and the coroutine factory that does it.

    ``key`` is the item's journal identity (empty: not journaled). When ``takes_context`` is
    true, ``run`` receives the item's :class:`CallContext` (journal hooks, resume handle).
    ``restore`` rebuilds the result of an item the journal has as done from its saved entry.
    """

    label: str
    run: Callable[..., Awaitable[Any]]
    key: str = ""
    takes_context: bool = False
    restore: Callable[[Entry], Any] | None = None


@dataclass(slots=True)
class Outcome:
    item: Item
    status: str
    result: Any = None
    error: BaseException | None = None
    #: True when the journal had this item as done and nothing ran.
    skipped: bool = False
    #: The item's place in the batch (0-based): outcomes are reported in this order.
    index: int = 0

    @property
    def message(self) -> str:
        return str(self.error) if self.error else ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    #: False drops each result once ``on_outcome`` has seen it: a CLI printing results as
    #: they come keeps only statuses, so memory does not grow with the number of items.
    keep_results: bool = True
    #: What was tried again: ``retry`` (a request or download), ``download_recovered`` (a paid
    #: result fetched again and saved), ``resubmitted`` (an item whose answer was lost).
    stats: Counter[str] = field(default_factory=Counter)
    #: The run's estimated cost before it started (``estimated cost $0.24``), when priced.
    estimate: str = ""

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
            if o.status not in (OK, PLANNED)
        ]
        return max(codes, default=0)

    def results(self) -> list[Any]:
        """The results of the items that succeeded, in item order; when none did, the first
        item's error is raised (a batch of one behaves like a single call)."""
        found = [o.result for o in self.outcomes if o.status == OK]
        if not found:
            errors = [o.error for o in self.outcomes if o.error is not None]
            if errors:
                raise errors[0]
        return found

    def __repr__(self) -> str:
        # Short: Python 3.11's asyncio.run formats the repr of its main task's result (this
        # summary) when it restores the SIGINT handler; a field-by-field repr of 10,000
        # outcomes, each with its job, was gigabytes.
        return f"Summary({self.line()})"

    def line(self) -> str:
        c = self.counts
        parts = [f"{c[s]} {s}" for s in (OK, BLOCKED, FAILED, CANCELLED) if c[s]]
        skipped = sum(1 for o in self.outcomes if o.skipped)
        tail = f" ({skipped} from the journal)" if skipped else ""
        notes = [
            f"{self.stats[key]} {label}"
            for key, label in (
                ("retry", "retries"),
                ("download_recovered", "downloads fetched again"),
                ("resubmitted", "resubmitted after a lost answer"),
            )
            if self.stats[key]
        ]
        extra = f"; {', '.join(notes)}" if notes else ""
        return f"{len(self.outcomes)} items: " + ", ".join(parts) + tail + extra


def classify(error: BaseException) -> str:
    if isinstance(error, BlockedError):
        return BLOCKED
    if isinstance(error, (CancelledJobError, asyncio.CancelledError, KeyboardInterrupt)):
        return CANCELLED
    return FAILED


def result_paths(result: Any) -> list[str]:
    """The saved file paths of a result (an ``ImageResult`` or a ``ProviderResponse``)."""
    images = getattr(result, "images", None)
    if isinstance(images, list):
        return [str(i["path"]) for i in images if isinstance(i, dict) and i.get("path")]
    return [str(f.path) for f in getattr(result, "files", None) or [] if f.path]


def finished(entry: Entry | None) -> bool:
    """Whether an earlier run finished this item: saved (its files still there) or refused by
    the provider (``blocked``: asking again would pay again for the same refusal)."""
    if entry is None:
        return False
    if entry.state == BLOCKED:
        return True
    return entry.state == OK and bool(entry.paths) and all(Path(p).exists() for p in entry.paths)


async def run_batch(
    items: list[Item],
    *,
    concurrency: int = 4,
    ahead: int = 0,
    on_outcome: Callable[[Outcome], None] | None = None,
    journal: Journal | None = None,
    on_event: EventHook | None = None,
    summary: Summary | None = None,
    retry_lost: bool = False,
) -> Summary:
    """Run ``items`` at most ``concurrency`` at a time; results are reported as each finishes.

    ``concurrency`` bounds the items holding provider capacity: an item takes a slot when it
    starts and gives it back when its remote work is over (the ``remote_done`` event), so the
    next job is submitted while the previous one downloads and saves. ``ahead`` more items may
    hold a slot while their jobs wait in the provider's own queue (:func:`queued_ahead`). A
    task exists only for a
    running item, so a 10,000-item batch costs no more memory than a small one. ``summary`` may
    be passed in so the caller keeps the outcomes so far even when the batch is cancelled.
    An item whose answer was lost after a paid submission fails, unless ``retry_lost``: then it
    is submitted again (up to :data:`LOST_RESUBMISSIONS` times), and the summary counts it.
    """
    summary = summary if summary is not None else Summary()
    total = len(items)
    live: Counter[str] = Counter()
    waiting: dict[int, Outcome] = {}
    next_index = 0

    def emit(name: str, **data: Any) -> None:
        if on_event is not None:
            try:
                on_event(name, data)
            except Exception:  # a progress display must never break a batch
                log.debug("on_event hook failed", exc_info=True)

    def report(outcome: Outcome) -> None:
        """Progress is live; outcomes reach ``on_outcome`` and the summary in item order (an
        outcome waits for the outcomes of earlier items)."""
        nonlocal next_index
        live[outcome.status] += 1
        emit(
            "item_finished",
            label=outcome.item.label,
            status=outcome.status,
            skipped=outcome.skipped,
            index=outcome.index,
            done=sum(live.values()),
            total=total,
            counts=dict(live),
        )
        waiting[outcome.index] = outcome
        while next_index in waiting:
            ready = waiting.pop(next_index)
            next_index += 1
            summary.outcomes.append(ready)
            if on_outcome is not None:
                on_outcome(ready)
            if not summary.keep_results:
                ready.result = None

    entries: dict[int, Entry] = {}  # the journal's entries of unfinished items
    restored: list[Outcome] = []
    for index, item in enumerate(items):
        entry = journal.get(item.key) if journal is not None and item.key else None
        if finished(entry):
            assert entry is not None
            if entry.state == BLOCKED:
                error = BlockedError(
                    entry.error or "blocked by the provider", request_id=entry.request_id
                )
                restored.append(Outcome(item, BLOCKED, error=error, skipped=True, index=index))
                continue
            result = item.restore(entry) if item.restore else entry
            restored.append(Outcome(item, OK, result=result, skipped=True, index=index))
        elif entry is not None:
            entries[index] = entry
    emit("batch_started", total=total, skipped=len(restored), concurrency=concurrency)
    for outcome in restored:
        report(outcome)

    slots = asyncio.Semaphore(max(1, concurrency) + max(0, ahead))

    async def attempt(item: Item, recorded: list[dict[str, Any]], slot: _Slot, rec: _Record) -> Any:
        async def submitted(handle: dict[str, Any]) -> None:
            if rec.journal is not None:
                # The first job of a fresh attempt replaces older handles (one transaction).
                restart = item.label if rec.fresh else None
                rec.journal.submitted(item.key, handle, restart=restart)
                rec.fresh, rec.exists = False, True
            emit("item_submitted", label=item.label, request_id=handle.get("request_id"))

        def event(name: str, data: dict[str, Any]) -> None:
            if name == "remote_done":
                slot.release()  # downloads and saving need no provider capacity
            elif name == "responded":
                rec.responded = True
            elif name == "saving" and rec.journal is not None and rec.exists:
                rec.journal.saving(item.key, data["file"], data["path"])
            elif name in ("notice", "progress"):  # a provider's word for people watching
                emit(f"item_{name}", label=item.label, **data)

        ctx = CallContext.reattaching(
            recorded,
            on_submitted=submitted,
            on_event=event,
            files=rec.files if recorded else {},
        )
        return await (item.run(ctx) if item.takes_context else item.run())

    async def one(item: Item, index: int, slot: _Slot) -> None:
        try:
            await run_one(item, index, slot)
        finally:
            slot.release()

    def count(kind: str) -> None:
        summary.stats[kind] += 1

    async def run_one(item: Item, index: int, slot: _Slot) -> None:
        retry_listener.set(count)  # this item's task (and its sub-tasks) count into the summary
        entry = entries.pop(index, None)
        # Every job an earlier run recorded is re-attached, whatever that run's outcome (a
        # download that failed after the job finished must not pay for the job again).
        recorded = list(entry.handles) if entry is not None and item.takes_context else []
        # The journal learns of an item when it has something worth keeping: a submitted
        # job (paid for), a result, or an earlier entry to update. An item failing before
        # any submission leaves no trace (and a run failing validation creates no file).
        rec = _Record(journal if item.key else None, exists=entry is not None, fresh=not recorded)
        if entry is not None:
            rec.files = entry.files
        emit("item_started", label=item.label, resumed=bool(recorded))
        try:
            try:
                result = await attempt(item, recorded, slot, rec)
            except AnswerLostError:
                if not retry_lost:
                    raise
                result = await resubmit(item, slot, rec)
            except (TwatGenAiError, LookupError, ValueError) as exc:
                if not recorded or rec.responded or isinstance(exc, BlockedError):
                    raise  # nothing to re-attach, or the job answered and the failure is ours
                # The recorded job is gone (expired, cancelled, failed): submit afresh, once,
                # holding a slot again if the first attempt had given its slot back.
                log.info("could not re-attach to %s (%s); submitting again", item.label, exc)
                rec.fresh = True  # the next submission starts the entry afresh
                await slot.reacquire()
                result = await attempt(item, [], slot, rec)
            outcome = Outcome(item, OK, result=result, index=index)
        except asyncio.CancelledError as exc:
            rec.finish(item, CANCELLED, error="interrupted")
            report(Outcome(item, CANCELLED, error=exc, index=index))
            raise
        except Exception as exc:
            outcome = Outcome(item, classify(exc), error=exc, index=index)
        rec.finish(
            item,
            outcome.status,
            paths=result_paths(outcome.result),
            request_id=getattr(outcome.result, "request_id", None)
            or getattr(outcome.error, "request_id", None),
            error=outcome.message or None,
        )
        report(outcome)

    async def resubmit(item: Item, slot: _Slot, rec: _Record) -> Any:
        """Submit an item whose answer was lost again (the caller accepted paying twice)."""
        for left in range(LOST_RESUBMISSIONS - 1, -1, -1):
            count("resubmitted")
            emit("item_resubmitted", label=item.label)
            rec.fresh = True
            await slot.reacquire()
            try:
                return await attempt(item, [], slot, rec)
            except AnswerLostError:
                if not left:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # Items start as slots free up: tasks exist only for running items (memory stays flat).
    running: set[asyncio.Future[None]] = set()
    skipped = {o.index for o in restored}
    try:
        for index, item in enumerate(items):
            if index in skipped:
                continue
            await slots.acquire()
            future = asyncio.ensure_future(one(item, index, _Slot(slots)))
            running.add(future)
            future.add_done_callback(running.discard)
        while running:
            await asyncio.gather(*list(running))
    except asyncio.CancelledError:
        for task in list(running):
            task.cancel()
        await asyncio.gather(*list(running), return_exceptions=True)
        done = {o.index for o in summary.outcomes} | set(waiting)
        for index, item in enumerate(items):
            if index not in done:
                report(Outcome(item, CANCELLED, index=index))
        emit("batch_finished", counts=dict(summary.counts), total=total)
        raise
    emit("batch_finished", counts=dict(summary.counts), total=total)
    return summary


class _Slot:
    """One item's concurrency slot: released once (early when the remote work is over), and
    taken again only to submit afresh after a failed re-attach."""

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self._sem = sem
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._sem.release()

    async def reacquire(self) -> None:
        if not self._held:
            await self._sem.acquire()
            self._held = True


@dataclass
class _Record:
    """One item's journal bookkeeping in this run: does its row ``exist``, and is the next
    submission ``fresh`` (not a missing part of a job being re-attached to)?"""

    journal: Journal | None
    exists: bool = False
    fresh: bool = True
    files: dict[str, str] = field(default_factory=dict)
    #: The provider answered this run (what fails afterwards is a download or the disk).
    responded: bool = False

    def finish(self, item: Item, status: str, **fields: Any) -> None:
        if self.journal is None or not (self.exists or status == OK):
            return
        if not self.exists:  # done without a submission handle (a synchronous provider)
            self.journal.start(item.key, item.label)
            self.exists = True
        self.journal.finish(item.key, status, **fields)
