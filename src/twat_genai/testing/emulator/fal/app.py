"""The fal.ai emulator app: routes the queue, sync-run, REST storage and CDN protocols.

Mounted at ``/fal``; the project maps ``TWAT_GENAI_FAL_BASE_URL=<root>/fal`` to the queue
(``/fal/queue``), REST storage (``/fal/rest``), CDN (``/fal/cdn``) and sync run (``/fal/run``).
Wire facts follow PROTOCOLS.md §1; where that file marks a fact uncertain, a comment says so.
Model errors surface on the result call, as on fal. See :mod:`..scenarios` for fault tokens.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..app import EmulatorApp
from ..http import EmulatorRequest, EmulatorResponse, json_response
from ..scenarios import scenarios_in
from .auth import authorized, parse_args, unauthorized
from .endpoints import ENDPOINTS, ignored
from .errors import Outcome
from .models import FalModels, input_urls
from .queue import FalJob, FalQueue
from .storage import FalStorage

#: Namespaces whose endpoint ids keep the prefix (``workflows/owner/alias/...``).
NAMESPACES = ("workflows", "comfy")


def _split_app(parts: list[str]) -> int:
    """Number of leading segments forming ``[namespace/]owner/alias``."""
    return 3 if parts and parts[0] in NAMESPACES else 2


class FalEmulator(EmulatorApp):
    """The fal.ai emulator app (mount at ``/fal``; :func:`install` does)."""

    name = "fal"

    def __init__(self, *, capacity: int | None = None, latency: float | None = None) -> None:
        super().__init__(latency=latency)
        self.capacity_override = capacity
        self.models = FalModels(self)
        self.queue = FalQueue(self, self._run_model)
        self.storage = FalStorage(self)
        self._ingress_errors = 0

    @property
    def jobs(self) -> dict[str, FalJob]:
        """Every job since the last reset, by request id."""
        return self.queue.jobs

    # -- EmulatorApp

    def env(self, root: str) -> dict[str, str]:
        """Point the project's fal client at this app (with a dummy key)."""
        return {"TWAT_GENAI_FAL_BASE_URL": f"{root}{self.prefix}", "FAL_KEY": "emulator-fal-key"}

    def reset(self) -> None:
        """Forget jobs and the rate-limit memory; issued CDN tokens stay valid."""
        self.queue.reset()
        super().reset()
        self.storage.reset()

    async def aclose(self) -> None:
        """Cancel running jobs."""
        await self.queue.aclose()

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
            return self._queue(req, rest)
        if head == "run" and req.method == "POST":
            return await self._run_sync(req, rest)
        if head == "rest":
            return self.storage.rest(req, rest)
        if head == "cdn":
            return self.storage.cdn(req, rest)
        return self.not_found(req)

    # -- faults

    def faultable(self, method: str, path: str) -> bool:
        """Queue, run and REST calls pass fal's ingress; CDN downloads and the signed upload
        target (a storage bucket, not fal) do not."""
        parts = path.strip("/").split("/")
        if parts[0] == "cdn" and method == "GET":
            return False
        return parts[:4] != ["rest", "storage", "upload", "put"]

    def creates_job(self, method: str, path: str) -> bool:
        """Queue submits and synchronous runs; not uploads, polls, results or cancels."""
        return method == "POST" and path.strip("/").split("/")[0] in ("queue", "run")

    def fault_response(self, kind: str, path: str) -> EmulatorResponse:
        """fal's ingress refusing before any queue: a 429, or nginx's own 502/504 page with no
        ``x-fal-request-id`` (what fal_client checks to know the request was not queued)."""
        if kind == "429":
            return json_response({"detail": "Too many requests"}, 429)
        self._ingress_errors += 1
        code, text = (502, "Bad Gateway") if self._ingress_errors % 2 else (504, "Gateway Time-out")
        page = (
            f"<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n"
            f"<center><h1>{code} {text}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return EmulatorResponse.raw(page.encode(), "text/html", code)

    # -- queue

    def _queue(self, req: EmulatorRequest, parts: list[str]) -> EmulatorResponse:
        n = _split_app(parts)
        if len(parts) > n + 1 and parts[n] == "requests" and req.method in {"GET", "PUT"}:
            app_base, request_id, op = "/".join(parts[:n]), parts[n + 1], parts[n + 2 :]
            return self._request_op(req, app_base, request_id, op)
        if req.method == "POST" and len(parts) >= n:
            return self._submit(req, "/".join(parts), "/".join(parts[:n]))
        return self.not_found(req)

    def _admit(self, req: EmulatorRequest, endpoint: str) -> dict[str, Any] | EmulatorResponse:
        """Common checks of submit and run: auth, JSON body, the ratelimit scenario."""
        req.endpoint = endpoint
        if not authorized(req):
            return unauthorized()
        args = parse_args(req)
        if isinstance(args, EmulatorResponse):
            return args
        sc = scenarios_in(args)
        if sc.ratelimit and self.first_time("ratelimit", str(args.get("prompt"))):
            self.count("rate_limited")
            return json_response({"detail": "Too many requests"}, 429, {"retry-after": "0"})
        spec = ENDPOINTS.get(endpoint)
        req.ignored = ignored(endpoint, args)
        if spec is None:
            req.note = "endpoint not in the emulator's table: answered by the shape of its request"
        elif spec.retired_for:
            req.note = f"{endpoint} is retired: fal serves {spec.retired_for}"
        return args

    def _submit(self, req: EmulatorRequest, endpoint: str, app_base: str) -> EmulatorResponse:
        # ``?fal_webhook=`` is accepted and ignored: nothing here can call out.
        args = self._admit(req, endpoint)
        if isinstance(args, EmulatorResponse):
            return args
        job = self.queue.enqueue(endpoint, app_base, args)
        self.accept(req)
        body: dict[str, Any] = {"status": "IN_QUEUE", "request_id": job.id, **self.queue.urls(job)}
        body["queue_position"] = self.queue.position(job)
        return json_response(body)

    async def _run_model(self, job: FalJob, duration: float) -> Outcome:
        urls = input_urls(job.args)
        fetched = await self.server.inputs.fetch_many(urls) if urls else {}
        if self.server.plain_images and not self.models.has_inputs(job.args):
            # A cached flat picture costs nothing: no thread hand-off (benchmarks).
            return self.models.process(job.endpoint, job.args, job, duration, fetched)
        return await asyncio.to_thread(
            self.models.process, job.endpoint, job.args, job, duration, fetched
        )

    def _request_op(
        self, req: EmulatorRequest, app_base: str, request_id: str, op: list[str]
    ) -> EmulatorResponse:
        if not authorized(req):
            return unauthorized()
        job = self.queue.jobs.get(request_id)
        if job is not None and job.app_base != app_base:
            job = None  # polled under another app: fal does not know it there
        if job is not None:
            req.endpoint = job.endpoint
        with_logs = req.query.get("logs", "").lower() in {"1", "true"}
        if op == ["status"] and req.method == "GET":
            self.count("polls")
            if job is None:
                return json_response({"detail": "Request not found"}, 404)
            body = self.queue.status_body(job, with_logs)
            return json_response(body, 200 if job.state == "COMPLETED" else 202)
        if op == ["status", "stream"] and req.method == "GET":
            self.count("polls")  # one stream counts as one status request
            if job is None:
                return json_response({"detail": "Request not found"}, 404)
            return EmulatorResponse.sse(self.queue.stream(job, with_logs))
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
                req.note = "cancel: no such request"
                return json_response({"status": "NOT_FOUND"}, 404)
            status, name, what = self.queue.cancel(job)
            req.note = f"cancel: {what}"
            if job.cancel_ignored and job.state != "COMPLETED":
                self.count("cancels_unstopped")
            return json_response({"status": name}, status)
        return self.not_found(req)

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
        job = self.queue.enqueue(endpoint, "/".join(parts[:n]), args)
        self.accept(req)  # a sync run is a job too (billed like a queued one)
        await job.done.wait()
        out = job.outcome or Outcome(500, {"detail": "Internal server error"})
        return json_response(out.body, out.status, {**out.headers, "x-fal-request-id": job.id})
