"""fal's queue: per-endpoint lanes of jobs, their status bodies, the SSE stream and cancel.

Jobs run on wall-clock time: each endpoint id has ``capacity`` slots; a job waits ``IN_QUEUE``
(FIFO, ``queue_position`` = waiting jobs ahead of it) until a slot frees, is ``IN_PROGRESS`` for
its duration, then ``COMPLETED``. Waiting jobs cost a list entry; only running jobs have a
task. Every per-request operation is a dict look-up or a bisect, whatever the number of jobs.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..host import Host
from ..scenarios import Scenarios, scenarios_in
from .errors import Outcome

HEARTBEAT_SECONDS = 10.0
LOG_STEPS = 4

#: Produces a job's outcome (runs while the job is IN_PROGRESS).
Runner = Callable[["FalJob", float], Awaitable[Outcome]]


class QueueOwner(Protocol):
    """What the queue needs of its app (:class:`.app.FalEmulator`)."""

    @property
    def server(self) -> Host: ...

    @property
    def base_url(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def latency(self) -> float: ...

    def count(self, key: str, n: int = 1) -> None: ...


@dataclass(eq=False)
class FalJob:
    """One queued request and its state machine."""

    id: str
    endpoint: str
    app_base: str
    args: dict[str, Any]
    scenarios: Scenarios
    ticket: int
    state: str = "IN_QUEUE"
    started_at: float | None = None
    started_wall: datetime | None = None
    duration: float = 0.0
    finished_at: float | None = None
    notes: list[tuple[float, str, str]] = field(default_factory=list)  # (offset, msg, level)
    outcome: Outcome | None = None
    cancel_requested: bool = False  # removed from the queue by a cancel
    cancel_ignored: bool = False  # cancelled while running, and ran on
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake everyone watching this job (the SSE stream, sync runs)."""
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass
class _Lane:
    """One endpoint id: waiting tickets (sorted; ``head`` marks the first still waiting)."""

    waiting: list[int] = field(default_factory=list)
    head: int = 0
    jobs: dict[int, FalJob] = field(default_factory=dict)
    running: int = 0

    def pop(self) -> FalJob:
        job = self.jobs.pop(self.waiting[self.head])
        self.head += 1
        if self.head > 64 and self.head * 2 > len(self.waiting):
            del self.waiting[: self.head]  # compact now and then: amortised O(1)
            self.head = 0
        return job

    def __len__(self) -> int:
        return len(self.waiting) - self.head


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FalQueue:
    """The jobs of one fal emulator app."""

    def __init__(self, app: QueueOwner, runner: Runner) -> None:
        self.app, self.runner = app, runner
        self.jobs: dict[str, FalJob] = {}
        self._lanes: dict[str, _Lane] = {}
        self._tickets = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def enqueue(self, endpoint: str, app_base: str, args: dict[str, Any]) -> FalJob:
        """A new job, started at once when its endpoint has a free slot (a ``stuck`` one
        waits forever, outside the lanes, so it holds no other job up)."""
        self._tickets += 1
        job = FalJob(str(uuid.uuid4()), endpoint, app_base, args, scenarios_in(args), self._tickets)
        self.jobs[job.id] = job
        if job.scenarios.stuck:
            return job
        lane = self._lanes.setdefault(endpoint, _Lane())
        lane.waiting.append(job.ticket)
        lane.jobs[job.ticket] = job
        self._pump(lane)
        return job

    def _pump(self, lane: _Lane) -> None:
        while lane.running < self.app.capacity and len(lane):
            job = lane.pop()
            lane.running += 1
            task = asyncio.create_task(self._work(job, lane))
            job.task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def position(self, job: FalJob) -> int:
        """Jobs ahead of ``job`` in its lane (0 once it runs)."""
        lane = self._lanes.get(job.endpoint)
        if lane is None or job.state != "IN_QUEUE" or job.scenarios.stuck:
            return 0
        return bisect.bisect_left(lane.waiting, job.ticket, lo=lane.head) - lane.head

    def urls(self, job: FalJob) -> dict[str, str]:
        """``response_url``, ``status_url`` and ``cancel_url`` of a job."""
        # fal drops the subpath: ``fal-ai/bria/expand`` is polled under ``fal-ai/bria``.
        base = f"{self.app.base_url}/queue/{job.app_base}/requests/{job.id}"
        return {
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
        }

    def note(self, job: FalJob, message: str, level: str = "INFO") -> None:
        """Add one log line to a running or finished job, at the current time."""
        start = job.started_at if job.started_at is not None else self.app.server.clock()
        job.notes.append((self.app.server.clock() - start, message, level))

    def logs(self, job: FalJob) -> list[dict[str, str]]:
        """The job's log lines so far: "Running", one per quarter of its duration, then notes.

        Built when asked for (clients rarely ask), from the job's start and duration, so a
        job costs no timer or timestamp per step.
        """
        if job.started_at is None or job.started_wall is None:
            return []
        end = job.finished_at if job.finished_at is not None else self.app.server.clock()
        elapsed = end - job.started_at
        if job.finished_at is not None and not job.cancel_requested:
            elapsed = max(elapsed, job.duration)  # a finished job ran its whole duration
        lines: list[tuple[float, str, str]] = [(0.0, f"Running {job.endpoint}", "INFO")]
        for step in range(1, LOG_STEPS + 1):
            at = job.duration * step / LOG_STEPS
            if at <= elapsed:
                lines.append((at, f"step {step}/{LOG_STEPS}", "INFO"))
        lines += job.notes
        return [
            {
                "message": message,
                "level": level,
                "source": "USER",
                "timestamp": _stamp(job.started_wall + timedelta(seconds=offset)),
            }
            for offset, message, level in lines
        ]

    def next_step_in(self, job: FalJob) -> float | None:
        """Seconds until the job's next log line appears (``None`` when none will)."""
        if job.state != "IN_PROGRESS" or job.started_at is None:
            return None
        elapsed = self.app.server.clock() - job.started_at
        for step in range(1, LOG_STEPS + 1):
            at = job.duration * step / LOG_STEPS
            if at > elapsed:
                return at - elapsed
        return None

    async def _work(self, job: FalJob, lane: _Lane) -> None:
        """Run one job: IN_PROGRESS with logs for its duration, then the model, then COMPLETED."""
        server = self.app.server
        try:
            slow = job.scenarios.slow
            duration = self.app.latency if slow is None else slow
            job.state, job.started_at, job.duration = "IN_PROGRESS", server.clock(), duration
            job.started_wall = server.utcnow()
            job.notify()
            # The model's output is made while the job "runs", so a job lasts ``duration``,
            # not ``duration`` plus the emulator's own encoding time.
            work = asyncio.ensure_future(self.runner(job, duration))
            try:
                await asyncio.sleep(duration)
                outcome = await work
                await server.released()
            finally:
                work.cancel()
            self.finish(job, outcome)
        finally:
            lane.running -= 1
            self._pump(lane)

    def finish(self, job: FalJob, outcome: Outcome) -> None:
        """Complete a job with ``outcome``."""
        job.outcome = outcome
        job.state, job.finished_at = "COMPLETED", self.app.server.clock()
        self.app.count("completed")
        if outcome.status >= 400:
            self.note(job, f"Request failed with HTTP {outcome.status}", "ERROR")
        job.notify()
        job.done.set()

    def _finish_cancelled(self, job: FalJob) -> None:
        # [uncertain] fal's docs say a queued request is removed, not what its status and
        # result answer afterwards: COMPLETED with error_type ``client_cancelled`` (a documented
        # request error, HTTP 499) is fal's shape for a request that did not run.
        body = {"detail": "Request was cancelled", "error_type": "client_cancelled"}
        outcome = Outcome(499, body, {"x-fal-error-type": "client_cancelled"})
        outcome.error, outcome.error_type = "Request was cancelled", "client_cancelled"
        self.finish(job, outcome)

    def status_body(self, job: FalJob, with_logs: bool) -> dict[str, Any]:
        """What the status call answers for ``job``."""
        body: dict[str, Any] = {"status": job.state, "request_id": job.id, **self.urls(job)}
        if job.state == "IN_QUEUE":
            body["queue_position"] = self.position(job)
            return body
        body["logs"] = self.logs(job) if with_logs else None
        if job.state == "COMPLETED":
            started = job.started_at if job.started_at is not None else job.finished_at or 0.0
            elapsed = (job.finished_at or started) - started
            body["metrics"] = {"inference_time": round(elapsed, 4)}
            if job.outcome is not None and job.outcome.error:
                body["error"], body["error_type"] = job.outcome.error, job.outcome.error_type
        return body

    def cancel(self, job: FalJob) -> tuple[int, str, str]:
        """Cancel ``job`` as fal does: ``(HTTP status, outcome name, what happened)``.

        A queued job is removed. A running one gets the cancellation signal, which a model
        without a cancel handler ignores (fal's docs: it "continues consuming GPU time until
        it finishes naturally", and is billed); the emulator's models have none, so the job
        runs on and completes. Codes [uncertain, a third-party mock]: 202 requested, 400 done.
        """
        if job.state == "COMPLETED":
            return 400, "ALREADY_COMPLETED", "already completed"
        if job.state == "IN_QUEUE":
            job.cancel_requested = True
            self._dequeue(job)
            self._finish_cancelled(job)
            return 202, "CANCELLATION_REQUESTED", "removed from the queue"
        job.cancel_ignored = True
        self.note(job, "Cancellation requested: no cancel handler, the request runs on", "WARN")
        return 202, "CANCELLATION_REQUESTED", "running: the cancel did not stop it"

    def _dequeue(self, job: FalJob) -> None:
        lane = self._lanes.get(job.endpoint)
        if lane is None:
            return
        i = bisect.bisect_left(lane.waiting, job.ticket, lo=lane.head)
        if i < len(lane.waiting) and lane.waiting[i] == job.ticket:
            del lane.waiting[i]
        lane.jobs.pop(job.ticket, None)

    async def stream(self, job: FalJob, with_logs: bool) -> AsyncIterator[bytes]:
        """SSE: one ``data:`` event per visible state change, ending after COMPLETED."""
        last: tuple[Any, ...] | None = None
        idle = 0.0
        while True:
            body = self.status_body(job, with_logs)
            lines = len(body["logs"]) if with_logs and body.get("logs") else 0
            snap = (body["status"], body.get("queue_position"), lines)
            if snap != last:
                last, idle = snap, 0.0
                yield b"data: " + json.dumps(body).encode() + b"\n\n"
            if job.state == "COMPLETED":
                return
            # Queue positions move when other jobs start, so queued jobs re-check often;
            # a stream with logs wakes for each new log line.
            wait = 0.05 if job.state == "IN_QUEUE" and not job.scenarios.stuck else 1.0
            step = self.next_step_in(job) if with_logs else None
            if step is not None:
                wait = min(wait, step + 0.001)
            try:
                await asyncio.wait_for(job.changed.wait(), wait)
            except asyncio.TimeoutError:
                idle += wait
                if idle >= HEARTBEAT_SECONDS:
                    idle = 0.0
                    yield b": heartbeat\n\n"

    def reset(self) -> None:
        """Forget every job (running tasks are cancelled and must not pump the lanes)."""
        self._empty_lanes()
        for task in list(self._tasks):
            task.cancel()
        self.jobs.clear()
        self._lanes.clear()

    def _empty_lanes(self) -> None:
        for lane in self._lanes.values():
            lane.waiting.clear()
            lane.head = 0
            lane.jobs.clear()

    async def aclose(self) -> None:
        """Cancel running jobs and wait for them. The lanes are emptied first: a cancelled
        job frees its slot, and must not start a waiting one that nobody would wait for."""
        self._empty_lanes()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
