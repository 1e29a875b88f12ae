"""fal.ai emulator: the queue, sync-run, storage and CDN protocols, with real image outputs.

Mounted at ``/fal``; the project maps ``TWAT_GENAI_FAL_BASE_URL=<root>/fal`` to the queue
(``/fal/queue``), REST storage (``/fal/rest``), CDN (``/fal/cdn``) and sync run (``/fal/run``).
Wire facts follow PROTOCOLS.md §1; where that file marks a fact uncertain, a comment says so.

Jobs run on wall-clock time: each endpoint id has ``capacity`` slots; a job waits ``IN_QUEUE``
(FIFO, ``queue_position`` = waiting jobs ahead of it) until a slot frees, is ``IN_PROGRESS`` for
``latency`` seconds (or ``[emulate:slow=S]``), then ``COMPLETED``. Waiting jobs cost nothing
but a list entry; only running jobs have a task. Model errors surface on the result call, as
on fal. See :mod:`twat_genai.testing.scenarios` for the fault tokens.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeGuard

from PIL import Image

from . import media
from .scenarios import Scenarios, scenarios_in
from .server import (
    EmulatorApp,
    EmulatorRequest,
    EmulatorResponse,
    EmulatorServer,
    json_response,
    safe_name,
)

logger = logging.getLogger("twat_genai.testing.fal")

#: fal's ``image_size`` presets.
IMAGE_SIZE_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

#: Namespaces whose endpoint ids keep the prefix (``workflows/owner/alias/...``).
NAMESPACES = ("workflows", "comfy")

#: Flux endpoints and the input they are conditioned on.
FLUX_ENDPOINTS: dict[str, str] = {
    "fal-ai/flux-lora": "text",
    "fal-ai/flux-lora/image-to-image": "image",
    "fal-ai/flux-lora-canny": "canny",
    "fal-ai/flux-lora-depth": "depth",
    "fal-ai/flux-lora/inpainting": "inpaint",
}


@dataclass(frozen=True)
class Upscaler:
    """How one upscaler endpoint is called and what it answers."""

    factor_key: str | None
    default_factor: float
    keys: tuple[str, ...]  # output keys besides the image(s)
    many: bool = False  # ``images`` list instead of ``image``


UPSCALERS: dict[str, Upscaler] = {
    "fal-ai/esrgan": Upscaler("scale", 2, ()),
    "fal-ai/clarity-upscaler": Upscaler("upscale_factor", 2, ("seed", "timings")),
    "fal-ai/aura-sr": Upscaler("upscaling_factor", 4, ("timings",)),
    "fal-ai/drct-super-resolution": Upscaler("upscaling_factor", 4, ()),
    "fal-ai/ccsr": Upscaler("scale", 2, ("seed",)),
    "fal-ai/ideogram/upscale": Upscaler(None, 2, ("seed",), many=True),
    "fal-ai/recraft-creative-upscale": Upscaler(None, 2, ()),
    "fal-ai/recraft-clarity-upscale": Upscaler(None, 2, ()),
}

_ERROR_TYPES = {
    400: ("Bad request", "bad_request"),
    401: ("No user found for Key ID and Secret", None),
    403: ("User is locked. Reason: Exhausted balance.", None),
    404: ("Not Found", None),
    408: ("Request timed out", "request_timeout"),
    429: ("Too many requests", None),
    499: ("Client cancelled the request", "client_cancelled"),
    500: ("Internal server error", "runner_server_error"),
    502: ("Runner returned an incomplete response", "runner_incomplete_response"),
    503: ("Runner disconnected", "runner_disconnected"),
    504: ("Request timed out", "request_timeout"),
}

_HEARTBEAT_SECONDS = 10.0
_LOG_STEPS = 4


class FalModelError(Exception):
    """What the model answered instead of an output (reported on the result call)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.headers = status, body, headers or {}


def validation_error(
    field_name: str, msg: str, type_: str, value: Any = None, status: int = 422
) -> FalModelError:
    """A 422 in fal's (pydantic-style) ``detail`` list shape."""
    item = {
        "loc": ["body", field_name],
        "msg": msg,
        "type": type_,
        "url": f"https://docs.fal.ai/errors/#{type_}",
        "input": value,
    }
    return FalModelError(status, {"detail": [item]})


def error_for_code(code: int, prompt: Any = None) -> FalModelError:
    """The model/infrastructure error fal would report with HTTP ``code``."""
    if code == 422:
        return validation_error("prompt", "Emulated model error", "value_error", prompt)
    message, error_type = _ERROR_TYPES.get(code, (f"Emulated error {code}", None))
    body: dict[str, Any] = {"detail": message}
    headers: dict[str, str] = {}
    if error_type:
        body["error_type"] = error_type
        headers["x-fal-error-type"] = error_type
    return FalModelError(code, body, headers)


@dataclass
class Outcome:
    """The status, body and headers the result call replays."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # for COMPLETED statuses of failed jobs
    error_type: str | None = None


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
    logs: list[dict[str, str]] = field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    outcome: Outcome | None = None
    cancel_requested: bool = False
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake everyone watching this job (the SSE stream, sync runs)."""
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass
class _Lane:
    """Scheduling state of one endpoint id: FIFO tickets waiting and the running count."""

    waiting: list[int] = field(default_factory=list)
    jobs: dict[int, FalJob] = field(default_factory=dict)
    running: int = 0


def _authorized(req: EmulatorRequest) -> bool:
    # fal_client sends ``Key <id:secret>``; a ``fal auth login`` token comes as ``Bearer``.
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    return scheme.lower() in {"key", "bearer"} and bool(token.strip())


def _unauthorized() -> EmulatorResponse:
    return json_response({"detail": "No user found for Key ID and Secret"}, 401)


def _split_app(parts: list[str]) -> int:
    """Number of leading segments forming ``[namespace/]owner/alias``."""
    return 3 if parts and parts[0] in NAMESPACES else 2


class FalEmulator(EmulatorApp):
    """The fal.ai emulator app (mount at ``/fal``; :func:`install` does)."""

    name = "fal"

    def __init__(self, *, capacity: int | None = None, latency: float | None = None) -> None:
        super().__init__(latency=latency)
        self.capacity_override = capacity
        self.jobs: dict[str, FalJob] = {}
        self._lanes: dict[str, _Lane] = {}
        self._tickets = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._tokens: set[str] = set()
        self._multipart: dict[str, dict[str, Any]] = {}
        self._blobs: dict[str, tuple[str, str]] = {}  # fallback-storage PUT targets

    # -- EmulatorApp

    def env(self, root: str) -> dict[str, str]:
        """Point the project's fal client at this app (with a dummy key)."""
        return {"TWAT_GENAI_FAL_BASE_URL": f"{root}{self.prefix}", "FAL_KEY": "emulator-fal-key"}

    def reset(self) -> None:
        """Forget jobs and the rate-limit memory; issued CDN tokens stay valid (clients cache them)."""
        for lane in self._lanes.values():  # running tasks must not pump these any more
            lane.waiting.clear()
            lane.jobs.clear()
        for task in list(self._tasks):
            task.cancel()
        self.jobs.clear()
        self._lanes.clear()
        super().reset()
        self._multipart.clear()

    async def aclose(self) -> None:
        """Cancel running jobs."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def capacity(self) -> int:
        """Concurrent jobs per endpoint id (app override, else the server's)."""
        cap = self.server.capacity if self.capacity_override is None else self.capacity_override
        return max(1, cap)

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        """Route by the first path segment: queue, run, rest, cdn."""
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return self.not_found(req)
        head, rest = parts[0], parts[1:]
        if head == "queue":
            return await self._queue(req, rest)
        if head == "run" and req.method == "POST":
            return await self._run_sync(req, rest)
        if head == "rest":
            return self._rest(req, rest)
        if head == "cdn":
            return self._cdn(req, rest)
        return self.not_found(req)

    # -- queue

    async def _queue(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        n = _split_app(parts)
        if len(parts) > n + 1 and parts[n] == "requests" and req.method in {"GET", "PUT"}:
            app_base, request_id, op = "/".join(parts[:n]), parts[n + 1], parts[n + 2 :]
            return self._request_op(req, app_base, request_id, op)
        if req.method == "POST" and len(parts) >= n:
            return self._submit(req, "/".join(parts), "/".join(parts[:n]))
        return self.not_found(req)

    def _parse_args(self, req: EmulatorRequest) -> dict[str, Any] | EmulatorResponse:
        try:
            args = req.json() if req.body else {}
        except ValueError:
            return json_response({"detail": "Invalid JSON body"}, 400)
        if not isinstance(args, dict):
            err = validation_error("__root__", "Input should be a valid dictionary", "dict_type")
            return json_response(err.body, 422)
        return args

    def _admit(self, req: EmulatorRequest, endpoint: str) -> dict[str, Any] | EmulatorResponse:
        """Common checks of submit and run: auth, JSON body, the ratelimit scenario."""
        req.endpoint = endpoint
        if not _authorized(req):
            return _unauthorized()
        args = self._parse_args(req)
        if isinstance(args, EmulatorResponse):
            return args
        sc = scenarios_in(args)
        if sc.ratelimit and self.first_time("ratelimit", str(args.get("prompt"))):
            self.count("rate_limited")
            return json_response({"detail": "Too many requests"}, 429, {"retry-after": "0"})
        req.note = self._foreign_note(args)
        return args

    def _submit(self, req: EmulatorRequest, endpoint: str, app_base: str) -> EmulatorResponse:
        # ``?fal_webhook=`` is accepted and ignored: nothing here can call out.
        args = self._admit(req, endpoint)
        if isinstance(args, EmulatorResponse):
            return args
        job = self._enqueue(endpoint, app_base, args)
        self.count("submissions")
        urls = self._urls(job)
        body: dict[str, Any] = {"status": "IN_QUEUE", "request_id": job.id, **urls}
        body["queue_position"] = self._position(job)
        return json_response(body)

    def _enqueue(self, endpoint: str, app_base: str, args: dict[str, Any]) -> FalJob:
        self._tickets += 1
        job = FalJob(str(uuid.uuid4()), endpoint, app_base, args, scenarios_in(args), self._tickets)
        self.jobs[job.id] = job
        lane = self._lanes.setdefault(endpoint, _Lane())
        lane.waiting.append(job.ticket)
        lane.jobs[job.ticket] = job
        self._pump(lane)
        return job

    def _pump(self, lane: _Lane) -> None:
        while lane.running < self.capacity and lane.waiting:
            job = lane.jobs.pop(lane.waiting.pop(0))
            lane.running += 1
            task = asyncio.create_task(self._work(job, lane))
            job.task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _position(self, job: FalJob) -> int:
        lane = self._lanes.get(job.endpoint)
        if lane is None or job.state != "IN_QUEUE":
            return 0
        return bisect.bisect_left(lane.waiting, job.ticket)

    def _urls(self, job: FalJob) -> dict[str, str]:
        # fal drops the subpath: ``fal-ai/bria/expand`` is polled under ``fal-ai/bria``.
        base = f"{self.base_url}/queue/{job.app_base}/requests/{job.id}"
        return {
            "response_url": base,
            "status_url": base + "/status",
            "cancel_url": base + "/cancel",
        }

    def _log(self, job: FalJob, message: str, level: str = "INFO") -> None:
        stamp = self.server.utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        job.logs.append({"message": message, "level": level, "source": "USER", "timestamp": stamp})

    async def _work(self, job: FalJob, lane: _Lane) -> None:
        """Run one job: IN_PROGRESS with logs for its duration, then the model, then COMPLETED."""
        clock = self.server.clock
        try:
            job.state, job.started_at = "IN_PROGRESS", clock()
            self._log(job, f"Running {job.endpoint}")
            job.notify()
            slow = job.scenarios.slow
            duration = self.latency if slow is None else slow
            # The model's output is made while the job "runs", so a job lasts ``duration``,
            # not ``duration`` plus the emulator's own encoding time.
            work = asyncio.ensure_future(
                asyncio.to_thread(self._process, job.endpoint, job.args, job, duration)
            )
            try:
                for step in range(1, _LOG_STEPS + 1):
                    await asyncio.sleep(duration / _LOG_STEPS if duration > 0 else 0)
                    self._log(job, f"step {step}/{_LOG_STEPS}")
                    job.notify()
                outcome = await work
                await self.server.released()
            finally:
                work.cancel()
            self._finish(job, outcome)
        except asyncio.CancelledError:
            if not job.cancel_requested:
                raise
            self._finish_cancelled(job)
        finally:
            lane.running -= 1
            self._pump(lane)

    def _finish(self, job: FalJob, outcome: Outcome) -> None:
        job.outcome = outcome
        job.state, job.finished_at = "COMPLETED", self.server.clock()
        self.count("completed")
        if outcome.status >= 400:
            self._log(job, f"Request failed with HTTP {outcome.status}", "ERROR")
        job.notify()
        job.done.set()

    def _finish_cancelled(self, job: FalJob) -> None:
        # [uncertain] fal's docs list CANCELLATION_REQUESTED but not what the result call answers
        # afterwards; we end the job and answer 400 with a ``client_cancelled`` error type.
        body = {"detail": "Request was cancelled", "error_type": "client_cancelled"}
        outcome = Outcome(400, body, {"x-fal-error-type": "client_cancelled"})
        outcome.error, outcome.error_type = "Request was cancelled", "client_cancelled"
        self._finish(job, outcome)

    def _status_body(self, job: FalJob, with_logs: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"status": job.state, "request_id": job.id, **self._urls(job)}
        if job.state == "IN_QUEUE":
            body["queue_position"] = self._position(job)
            return body
        body["logs"] = list(job.logs) if with_logs else None
        if job.state == "COMPLETED":
            started = job.started_at if job.started_at is not None else job.finished_at or 0.0
            elapsed = (job.finished_at or started) - started
            body["metrics"] = {"inference_time": round(elapsed, 4)}
            if job.outcome is not None and job.outcome.error:
                body["error"], body["error_type"] = job.outcome.error, job.outcome.error_type
        return body

    def _request_op(
        self, req: EmulatorRequest, app_base: str, request_id: str, op: list[str]
    ) -> EmulatorResponse:
        if not _authorized(req):
            return _unauthorized()
        job = self.jobs.get(request_id)
        if job is not None and job.app_base != app_base:
            job = None  # polled under another app: fal does not know it there
        if job is not None:
            req.endpoint = job.endpoint
        with_logs = req.query.get("logs", "").lower() in {"1", "true"}
        if op == ["status"] and req.method == "GET":
            self.count("polls")
            if job is None:
                return json_response({"detail": "Request not found"}, 404)
            body = self._status_body(job, with_logs)
            return json_response(body, 200 if job.state == "COMPLETED" else 202)
        if op == ["status", "stream"] and req.method == "GET":
            self.count("polls")  # one stream counts as one status request
            if job is None:
                return json_response({"detail": "Request not found"}, 404)
            return EmulatorResponse.sse(self._stream(job, with_logs))
        if op == [] and req.method == "GET":
            self.count("results")
            if job is None:
                return json_response({"detail": "Request not found"}, 404)
            if job.outcome is None:
                return json_response({"detail": "Request is still in progress"}, 400)
            out = job.outcome
            headers = {**out.headers, "x-fal-request-id": job.id}
            return json_response(out.body, out.status, headers)
        if op == ["cancel"] and req.method == "PUT":
            self.count("cancels")
            if job is None:
                return json_response({"status": "NOT_FOUND"}, 404)
            return self._cancel(job)
        return self.not_found(req)

    def _cancel(self, job: FalJob) -> EmulatorResponse:
        # [uncertain] codes from a third-party mock: 202 requested, 400 done, 404 unknown.
        if job.state == "COMPLETED":
            return json_response({"status": "ALREADY_COMPLETED"}, 400)
        job.cancel_requested = True
        if job.state == "IN_QUEUE":
            lane = self._lanes.get(job.endpoint)
            if lane is not None:
                i = bisect.bisect_left(lane.waiting, job.ticket)
                if i < len(lane.waiting) and lane.waiting[i] == job.ticket:
                    del lane.waiting[i]
                lane.jobs.pop(job.ticket, None)
            self._finish_cancelled(job)
        elif job.task is not None:
            job.task.cancel()
        return json_response({"status": "CANCELLATION_REQUESTED"}, 202)

    async def _stream(self, job: FalJob, with_logs: bool) -> AsyncIterator[bytes]:
        """SSE: one ``data:`` event per visible state change, ending after COMPLETED."""
        last: tuple[Any, ...] | None = None
        idle = 0.0
        while True:
            body = self._status_body(job, with_logs)
            snap = (body["status"], body.get("queue_position"), len(job.logs) if with_logs else 0)
            if snap != last:
                last, idle = snap, 0.0
                yield b"data: " + json.dumps(body).encode() + b"\n\n"
            if job.state == "COMPLETED":
                return
            # Queue positions move when other jobs start, so queued jobs re-check often.
            wait = 0.05 if job.state == "IN_QUEUE" else 1.0
            try:
                await asyncio.wait_for(job.changed.wait(), wait)
            except asyncio.TimeoutError:
                idle += wait
                if idle >= _HEARTBEAT_SECONDS:
                    idle = 0.0
                    yield b": heartbeat\n\n"

    # -- sync run

    async def _run_sync(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        n = _split_app(parts)
        if len(parts) < n:
            return self.not_found(req)
        endpoint = "/".join(parts)
        args = self._admit(req, endpoint)
        if isinstance(args, EmulatorResponse):
            return args
        self.count("runs")
        job = self._enqueue(endpoint, "/".join(parts[:n]), args)
        await job.done.wait()
        out = job.outcome or Outcome(500, {"detail": "Internal server error"})
        return json_response(out.body, out.status, {**out.headers, "x-fal-request-id": job.id})

    # -- storage and CDN (PROTOCOLS §1.6)

    def _rest(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        if parts == ["storage", "auth", "token"] and req.method == "POST":
            req.endpoint = "storage/auth/token"
            if not _authorized(req):
                return _unauthorized()
            token = secrets.token_hex(16)
            self._tokens.add(token)
            expires = self.server.utcnow() + timedelta(hours=1)
            return json_response(
                {
                    "token": token,
                    "token_type": "Bearer",
                    "base_url": f"{self.base_url}/cdn",
                    # fal_client parses this with fromisoformat and compares with aware UTC now.
                    "expires_at": expires.isoformat(),
                }
            )
        if parts == ["storage", "upload", "initiate"] and req.method == "POST":
            req.endpoint = "storage/upload/initiate"
            if not _authorized(req):
                return _unauthorized()
            args = self._parse_args(req)
            if isinstance(args, EmulatorResponse):
                return args
            name = str(args.get("file_name") or "upload.bin")
            ctype = str(args.get("content_type") or "application/octet-stream")
            fid = self.server.files.new_id()
            self._blobs[fid] = (name, ctype)
            return json_response(
                {
                    "upload_url": f"{self.base_url}/rest/storage/upload/put/{fid}",
                    "file_url": self.server.files.url_for(fid, name, self.prefix + "/cdn/files"),
                }
            )
        if parts[:3] == ["storage", "upload", "put"] and len(parts) == 4 and req.method == "PUT":
            req.endpoint = "storage/upload/put"
            pending = self._blobs.pop(parts[3], None)
            if pending is None:
                return json_response({"detail": "Upload URL not found or already used"}, 404)
            name, ctype = pending
            ctype = req.content_type or ctype
            self._store_upload(req, req.body, ctype, name, file_id=parts[3])
            return EmulatorResponse.raw(b"", "text/plain")
        return self.not_found(req)

    def _cdn_token_ok(self, req: EmulatorRequest) -> bool:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() in self._tokens

    def _store_upload(
        self,
        req: EmulatorRequest,
        data: bytes,
        content_type: str,
        name: str | None,
        file_id: str | None = None,
    ) -> str:
        ctype = content_type.split(";", maxsplit=1)[0].strip() or media.sniff_content_type(data)
        if ctype == "application/octet-stream":
            ctype = media.sniff_content_type(data)
        url = self.server.files.put(
            data, ctype, name, route=self.prefix + "/cdn/files", file_id=file_id
        )
        req.args = {"file_name": name, "content_type": ctype, "bytes": len(data)}
        self.count("uploads")
        return url

    def _cdn(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        if parts == ["files", "upload"] and req.method == "POST":
            req.endpoint = "files/upload"
            if not self._cdn_token_ok(req):
                return json_response({"detail": "Invalid or expired token"}, 401)
            name = req.headers.get("x-fal-file-name")
            url = self._store_upload(req, req.body, req.content_type, name)
            return json_response({"access_url": url})
        if parts == ["files", "upload", "multipart"] and req.method == "POST":
            req.endpoint = "files/upload/multipart"
            if not self._cdn_token_ok(req):
                return json_response({"detail": "Invalid or expired token"}, 401)
            fid = self.server.files.new_id()
            name = media_name(req.headers.get("x-fal-file-name"))
            upload_id = uuid.uuid4().hex
            self._multipart[upload_id] = {
                "id": fid,
                "name": name,
                "content_type": req.content_type or "application/octet-stream",
                "parts": {},
            }
            access = self.server.files.url_for(fid, name, self.prefix + "/cdn/files")
            return json_response({"access_url": access, "uploadId": upload_id})
        if len(parts) >= 3 and parts[0] == "files":
            fid = parts[1]
            if "multipart" in parts:
                return self._multipart_op(req, parts[parts.index("multipart") + 1 :])
            if req.method == "GET":
                req.endpoint = "files"
                resp = self.server.files.serve(fid)
                if resp.status == 200:
                    self.count("downloads")
                return resp
        return self.not_found(req)

    def _multipart_op(self, req: EmulatorRequest, rest: list[str]) -> EmulatorResponse:
        req.endpoint = "files/multipart"
        if not rest or rest[0] not in self._multipart:
            return json_response({"detail": "Upload not found"}, 404)
        upload = self._multipart[rest[0]]
        if len(rest) == 2 and rest[1].isdigit() and req.method == "PUT":
            upload["parts"][int(rest[1])] = req.body
            req.args = {"part": int(rest[1]), "bytes": len(req.body)}
            etag = '"' + hashlib.md5(req.body, usedforsecurity=False).hexdigest() + '"'
            return EmulatorResponse.raw(b"", "text/plain", headers={"etag": etag})
        if rest[1:] == ["complete"] and req.method == "POST":
            del self._multipart[rest[0]]
            data = b"".join(upload["parts"][k] for k in sorted(upload["parts"]))
            url = self._store_upload(
                req, data, upload["content_type"], upload["name"], file_id=upload["id"]
            )
            return json_response({"access_url": url})
        return self.not_found(req)

    # -- inputs

    def _foreign_note(self, args: dict[str, Any]) -> str | None:
        foreign = [
            f"{k}={v}"
            for k, v in args.items()
            if k.endswith("_url")
            and isinstance(v, str)
            and v.startswith(("http://", "https://"))
            and self.server.files.resolve(v) is None
        ]
        if not foreign:
            return None
        return "foreign URL(s) replaced by a 512x512 stand-in (no network): " + ", ".join(foreign)

    def _load(self, args: dict[str, Any], key: str) -> Image.Image:
        """Open the image an ``*_url`` argument points at, or raise fal's 422."""
        value = args.get(key)
        if not isinstance(value, str) or not value:
            raise validation_error(key, "Field required", "missing", args)
        if value.startswith("data:"):
            try:
                data, _ = media.decode_data_uri(value)
                return media.decode(data)
            except media.MediaError as exc:
                raise validation_error(key, str(exc), "image_load_error", value[:64]) from exc
        if not value.startswith(("http://", "https://")):
            raise validation_error(key, "Input should be a valid URL", "url_parsing", value)
        stored = self.server.files.resolve(value)
        if stored is None:
            return media.stand_in(value)
        if stored.broken:
            raise validation_error(key, "Failed to download the file", "file_download_error", value)
        try:
            return media.decode(stored.data)
        except media.MediaError as exc:
            raise validation_error(key, str(exc), "image_load_error", value) from exc

    # -- models (run in a worker thread)

    def _process(
        self, endpoint: str, args: dict[str, Any], job: FalJob, duration: float
    ) -> Outcome:
        """Produce the model's answer: output JSON and stored files, or an error outcome."""
        sc = job.scenarios
        try:
            if sc.error:
                raise error_for_code(sc.error, args.get("prompt"))
            if endpoint in UPSCALERS:
                body = self._upscale(endpoint, args, sc, duration)
            elif endpoint == "fal-ai/bria/expand":
                body = self._bria_expand(args, sc)
            elif endpoint == "fal-ai/bria/genfill":
                body = self._bria_genfill(args, sc)
            else:
                body = self._flux(endpoint, args, sc, duration)
        except FalModelError as exc:
            outcome = Outcome(exc.status, exc.body, exc.headers)
            if exc.status >= 500 and isinstance(exc.body, dict):
                outcome.error = str(exc.body.get("detail"))
                outcome.error_type = exc.body.get("error_type")
            return outcome
        except Exception as exc:
            logger.exception("fal emulator model %s failed", endpoint)
            body = {"detail": f"Internal server error: {exc}", "error_type": "internal_error"}
            return Outcome(500, body, {}, "Internal server error", "internal_error")
        return Outcome(200, body)

    def _image(
        self,
        img: Image.Image | None,
        *,
        key: str,
        size: tuple[int, int],
        fmt: str,
        sc: Scenarios,
        sync: bool,
    ) -> dict[str, Any]:
        """Encode (or render), store and describe one output image as fal's ``Image``."""
        if sc.blocked or img is None:
            data = media.render(key, size[0], size[1], fmt, blocked=sc.blocked)
        else:
            data = media.encode(img, fmt)
        ctype = media.content_type_for(fmt)
        if sync:
            url = media.data_uri(data, ctype)
        else:
            name = f"{hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]}"
            name += "." + media.extension_for(ctype)
            url = self.server.files.put(
                data, ctype, name, route=self.prefix + "/cdn/files", broken=sc.broken_url
            )
        return {"url": url, "width": size[0], "height": size[1], "content_type": ctype}

    def _flux(
        self, endpoint: str, args: dict[str, Any], sc: Scenarios, duration: float
    ) -> dict[str, Any]:
        mode = FLUX_ENDPOINTS.get(endpoint, "text")
        prompt = args.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise validation_error("prompt", "Field required", "missing", args)
        fmt = _output_format(args, "jpeg")
        count = _int_arg(args, "num_images", 1, 1, 8)
        seed = _seed(args, endpoint)
        source = None if mode == "text" else self._load(args, "image_url")
        mask = self._load(args, "mask_url") if mode == "inpaint" else None
        default = source.size if source is not None else IMAGE_SIZE_PRESETS["landscape_4_3"]
        size = _image_size(args, default)
        strength = _float_arg(args, "strength", 0.95 if mode == "image" else 0.85, 0.0, 1.0)
        images = []
        for i in range(count):
            key = f"{endpoint}|{prompt}|{seed + i}"
            img: Image.Image | None = None
            if source is not None and not sc.blocked:
                base = media.fit(source, *size)
                if mode == "canny":
                    img = media.edges(base)
                elif mode == "depth":
                    img = media.blend(media.depth_like(base), key, 0.5)
                elif mode == "inpaint" and mask is not None:
                    img = media.fill_masked(base, mask, key)
                else:
                    img = media.blend(base, key, strength)
            images.append(
                self._image(
                    img, key=key, size=size, fmt=fmt, sc=sc, sync=bool(args.get("sync_mode"))
                )
            )
        return {
            "images": images,
            "timings": {"inference": round(duration, 4)},
            "seed": seed,
            "has_nsfw_concepts": [sc.blocked] * count,
            "prompt": prompt,
        }

    def _upscale(
        self, endpoint: str, args: dict[str, Any], sc: Scenarios, duration: float
    ) -> dict[str, Any]:
        spec = UPSCALERS[endpoint]
        source = self._load(args, "image_url")
        factor = spec.default_factor
        if spec.factor_key is not None:
            factor = _float_arg(args, spec.factor_key, spec.default_factor, 0.1, 8.0)
        fmt = _output_format(args, "png")
        out = media.scale(source, factor)
        key = f"{endpoint}|{args.get('image_url', '')[:200]}|{factor}"
        image = self._image(
            out, key=key, size=out.size, fmt=fmt, sc=sc, sync=bool(args.get("sync_mode"))
        )
        body: dict[str, Any] = {"images": [image]} if spec.many else {"image": image}
        if "seed" in spec.keys:
            body["seed"] = _seed(args, endpoint)
        if "timings" in spec.keys:
            body["timings"] = {"inference": round(duration, 4)}
        return body

    def _bria_expand(self, args: dict[str, Any], sc: Scenarios) -> dict[str, Any]:
        source = self._load(args, "image_url")
        w, h = source.size
        ratio = args.get("aspect_ratio")
        if isinstance(ratio, str) and ratio:
            try:
                rw, rh = (int(x) for x in ratio.split(":"))
            except ValueError as exc:
                raise validation_error(
                    "aspect_ratio", "Invalid aspect ratio", "enum", ratio
                ) from exc
            canvas = (round(h * rw / rh), h) if w * rh < h * rw else (w, round(w * rh / rw))
            size, location = (w, h), ((canvas[0] - w) // 2, (canvas[1] - h) // 2)
        else:
            canvas = _pair(args, "canvas_size", None, 1, 5000)
            size = _pair(args, "original_image_size", (w, h), 1, 5000)
            default_loc = ((canvas[0] - size[0]) // 2, (canvas[1] - size[1]) // 2)
            location = _pair(args, "original_image_location", default_loc, -5000, 5000)
        seed = _seed(args, "fal-ai/bria/expand")
        key = f"bria/expand|{args.get('prompt', '')}|{seed}"
        img = None if sc.blocked else media.expand_canvas(source, canvas, size, location, key)
        image = self._image(
            img, key=key, size=canvas, fmt="png", sc=sc, sync=bool(args.get("sync_mode"))
        )
        return {"image": image, "seed": seed}

    def _bria_genfill(self, args: dict[str, Any], sc: Scenarios) -> dict[str, Any]:
        source = self._load(args, "image_url")
        mask = self._load(args, "mask_url")
        prompt = args.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise validation_error("prompt", "Field required", "missing", args)
        seed = _seed(args, "fal-ai/bria/genfill")
        count = _int_arg(args, "num_images", 1, 1, 4)
        images = []
        for i in range(count):
            key = f"bria/genfill|{prompt}|{seed + i}"
            img = None if sc.blocked else media.fill_masked(source, mask, key)
            images.append(
                self._image(
                    img,
                    key=key,
                    size=source.size,
                    fmt="png",
                    sc=sc,
                    sync=bool(args.get("sync_mode")),
                )
            )
        return {"images": images, "seed": seed}


def media_name(name: str | None) -> str:
    """File name for an upload (``upload.bin`` like fal_client when none was given)."""
    return safe_name(name) if name else "upload.bin"


# -- argument parsing in fal's validation style


def _image_size(args: dict[str, Any], default: tuple[int, int]) -> tuple[int, int]:
    value = args.get("image_size")
    if value is None:
        return default
    if isinstance(value, str):
        if value in IMAGE_SIZE_PRESETS:
            return IMAGE_SIZE_PRESETS[value]
        allowed = ", ".join(f"'{k}'" for k in IMAGE_SIZE_PRESETS)
        raise validation_error("image_size", f"Input should be {allowed}", "literal_error", value)
    if isinstance(value, dict):
        w, h = value.get("width"), value.get("height")
        if _is_int(w) and _is_int(h) and 1 <= w <= 14142 and 1 <= h <= 14142:
            return int(w), int(h)
    raise validation_error(
        "image_size",
        "Input should be a preset or {width, height} in 1..14142",
        "value_error",
        value,
    )


def _output_format(args: dict[str, Any], default: str) -> str:
    value = args.get("output_format", default)
    if value not in {"jpeg", "png"}:
        raise validation_error(
            "output_format", "Input should be 'jpeg' or 'png'", "literal_error", value
        )
    return str(value)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_arg(args: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = args.get(key, default)
    if not _is_int(value) or not lo <= value <= hi:
        msg = f"Input should be an integer between {lo} and {hi}"
        raise validation_error(key, msg, "value_error", value)
    return int(value)


def _float_arg(args: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        msg = f"Input should be a number between {lo} and {hi}"
        raise validation_error(key, msg, "value_error", value)
    return float(value)


def _pair(
    args: dict[str, Any], key: str, default: tuple[int, int] | None, lo: int, hi: int
) -> tuple[int, int]:
    value = args.get(key)
    if value is None:
        if default is None:
            raise validation_error(key, "Field required", "missing", args)
        return default
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(_is_int(v) and lo <= v <= hi for v in value)
    ):
        return int(value[0]), int(value[1])
    msg = f"Input should be a list of two integers in {lo}..{hi}"
    raise validation_error(key, msg, "value_error", value)


def _seed(args: dict[str, Any], salt: str) -> int:
    """The given seed, else one derived from the arguments (same request, same picture)."""
    value = args.get("seed")
    if _is_int(value):
        return int(value)
    blob = json.dumps(args, sort_keys=True, default=str) + salt
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:4], "big") >> 1


def install(server: EmulatorServer) -> FalEmulator:
    """Mount the fal emulator at ``/fal`` (called for the server's default apps)."""
    app = FalEmulator()
    server.mount("/fal", app)
    return app


__all__ = [
    "FLUX_ENDPOINTS",
    "IMAGE_SIZE_PRESETS",
    "UPSCALERS",
    "FalEmulator",
    "FalJob",
    "FalModelError",
    "install",
    "validation_error",
]
