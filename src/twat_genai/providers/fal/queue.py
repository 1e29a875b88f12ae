"""fal's queue protocol, spoken directly: submit, follow the returned URLs, result, cancel,
storage upload. https://docs.fal.ai/model-endpoints/queue

One ``FAL base URL`` root redirects everything: ``<root>/queue`` (queue.fal.run),
``<root>/rest`` (rest.fal.ai), ``<root>/cdn`` (v3.fal.media), ``<root>/run`` (fal.run).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from twat_genai.core.errors import (
    CancelledJobError,
    ModelError,
    ProviderError,
    ProviderTimeoutError,
)
from twat_genai.transport._httpx import httpx
from twat_genai.transport.http import HttpClient

log = logging.getLogger("twat_genai.fal")

REAL_HOSTS = {
    "queue": "https://queue.fal.run",
    "rest": "https://rest.fal.ai",
    "cdn": "https://v3.fal.media",
    "run": "https://fal.run",
}


def fal_urls(root: str | None) -> dict[str, str]:
    """Queue/REST/CDN/run URLs: the real hosts, or ``<root>/queue`` … under one root."""
    if not root:
        return dict(REAL_HOSTS)
    root = root.rstrip("/")
    return {name: f"{root}/{name}" for name in REAL_HOSTS}


@dataclass
class FalJob:
    """A submitted job: the URLs fal returned (followed verbatim, as fal's own client does)."""

    endpoint: str
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str

    def handle(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "request_id": self.request_id,
            "status_url": self.status_url,
            "response_url": self.response_url,
            "cancel_url": self.cancel_url,
        }

    @classmethod
    def from_handle(cls, handle: dict[str, Any]) -> FalJob:
        return cls(
            **{
                k: str(handle[k])
                for k in ("endpoint", "request_id", "status_url", "response_url", "cancel_url")
            }
        )


@dataclass
class WaitStats:
    status_requests: int = 0
    queue_time: float = 0.0
    total_time: float = 0.0
    #: When the job was first seen running (monotonic), if it was.
    running_since: float | None = None
    #: What a cancel achieved, in words, when the wait was cut off.
    cancelled: str = ""

    #: Called with each status fal reports (``IN_QUEUE``, ``IN_PROGRESS``, ``COMPLETED``).
    on_status: Callable[[str], None] | None = None

    def saw(self, status: Any) -> None:
        if status == "IN_PROGRESS" and self.running_since is None:
            self.running_since = time.monotonic()
        if self.on_status is not None and isinstance(status, str):
            self.on_status(status)


def _not_queued(response: httpx.Response) -> bool:
    """Whether a failed submit surely created no job: a 429, or an ingress error (502, 503,
    504) without ``x-fal-request-id`` — the rule fal's own client applies (PROTOCOLS §1.4)."""
    if response.status_code == 429:
        return True
    return response.status_code in (502, 503, 504) and "x-fal-request-id" not in response.headers


class FalQueue:
    """The queue client. Polling adapts: the SSE status stream when the server offers it,
    else status polls that start at ``poll_initial`` and back off to ``poll_max``."""

    def __init__(
        self,
        http: HttpClient,
        urls: dict[str, str],
        *,
        fetcher: HttpClient | None = None,
        use_stream: bool = True,
        poll_initial: float = 0.25,
        poll_max: float = 4.0,
        stream_idle: float = 30.0,
    ) -> None:
        self.http = http
        #: The key-less client, for URLs on other hosts (signed upload targets).
        self.fetcher = fetcher or HttpClient(http.provider)
        self.urls = urls
        self.use_stream = use_stream
        # [uncertain] fal's heartbeat interval on the status stream is not documented (the
        # emulator sends one every 10 s); 30 s of silence is taken as a dead connection.
        self.stream_idle = stream_idle
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()

    async def submit(self, endpoint: str, arguments: dict[str, Any]) -> FalJob:
        # Submit may create a billable job: retried only when it surely did not reach a queue.
        # A 5xx that carries x-fal-request-id came from fal's queue or a runner: that request
        # may already be a job.
        data = await self.http.post_json(
            f"{self.urls['queue']}/{endpoint}",
            arguments,
            retry="safe",
            safe_if=_not_queued,
        )
        try:
            return FalJob(
                endpoint=endpoint,
                request_id=str(data["request_id"]),
                status_url=str(data["status_url"]),
                response_url=str(data["response_url"]),
                cancel_url=str(data["cancel_url"]),
            )
        except (KeyError, TypeError) as exc:
            raise ProviderError(
                f"submit to {endpoint} answered without {exc}", provider="fal"
            ) from exc

    async def status(self, job: FalJob, *, logs: bool = False) -> dict[str, Any]:
        ok = lambda code: code in (200, 202)  # noqa: E731 - 202 while pending
        response = await self.http.request(
            "GET", job.status_url, params={"logs": "1" if logs else "0"}, ok=ok
        )
        data: dict[str, Any] = response.json()
        return data

    async def wait(
        self, job: FalJob, *, deadline: float | None = None, stats: WaitStats | None = None
    ) -> WaitStats:
        """Return once the job is COMPLETED; raise ModelError if fal reports it failed."""
        stats = stats if stats is not None else WaitStats()
        started = time.monotonic()
        final: dict[str, Any] | None = None
        while final is None and self.use_stream:
            final, idle = await self._wait_stream(job, stats)
            if final is not None or not idle:
                break
            # A silent stream may be a dead connection: ask once, then listen again.
            status = await self.status(job)
            stats.status_requests += 1
            if status.get("status") == "COMPLETED":
                final = status
        delay = self.poll_initial
        while final is None:
            status = await self.status(job)
            stats.status_requests += 1
            stats.saw(status.get("status"))
            if status.get("status") == "COMPLETED":
                final = status
                break
            if deadline is not None and time.monotonic() + delay > deadline:
                raise asyncio.TimeoutError
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, self.poll_max)
        stats.total_time = time.monotonic() - started
        running = stats.running_since or time.monotonic()
        stats.queue_time = running - started
        if final.get("error"):
            raise ModelError(
                f"{job.endpoint} failed: {final['error']}",
                provider="fal",
                request_id=job.request_id,
                error_type=final.get("error_type"),
            )
        return stats

    async def _wait_stream(
        self, job: FalJob, stats: WaitStats
    ) -> tuple[dict[str, Any] | None, bool]:
        """Follow ``status/stream`` (server-sent events) to the COMPLETED event.

        Returns (final event, False); (None, True) when the stream stayed silent for
        ``stream_idle`` seconds; (None, False) when it failed or is not offered (then poll).
        """
        stats.status_requests += 1
        timeout = httpx.Timeout(10.0, read=self.stream_idle)
        try:
            async with self.http.stream(
                "GET", f"{job.status_url}/stream", limited=False, timeout=timeout
            ) as response:
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    return None, False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    try:
                        event = json.loads(line[5:].strip())
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        stats.saw(event.get("status"))
                        if event.get("status") == "COMPLETED":
                            return event, False
        except ProviderTimeoutError:
            return None, True
        except ProviderError as exc:
            if exc.status_code in (404, 405, 501):
                self.use_stream = False  # this server has no stream; poll from now on
            log.debug("status stream unavailable for %s: %s", job.request_id, exc)
        return None, False

    async def result(self, job: FalJob) -> dict[str, Any]:
        response = await self.http.request("GET", job.response_url)
        data: dict[str, Any] = response.json()
        return data

    async def cancel(self, job: FalJob) -> str:
        """Ask fal to cancel; what happened, in words. A job still queued is cancelled; one
        already running may complete anyway (fal bills a running job whose model has no cancel
        handler). Failures are logged, not raised."""
        try:
            response = await self.http.request(
                "PUT", job.cancel_url, retry="never", timeout=10.0, ok=lambda c: c < 500
            )
        except ProviderError as exc:
            log.debug("cancel of %s failed: %s", job.request_id, exc)
            return "cancel requested, with no answer; the job may still complete and be billed"
        try:
            status = str(response.json().get("status", ""))
        except (ValueError, AttributeError):
            status = ""
        if status == "ALREADY_COMPLETED":
            return "the job had already completed (and is billed)"
        if status == "NOT_FOUND":
            return "the job was not found to cancel"
        return "cancel requested; the job may still complete and be billed"

    async def run(self, endpoint: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Run a job and return its result: submit, wait, fetch; cancel remotely if interrupted."""
        job = await self.submit(endpoint, arguments)
        return await self.follow(job)

    async def follow(
        self,
        job: FalJob,
        *,
        timeout: float | None = None,
        on_done: Callable[[], None] | None = None,
        stats: WaitStats | None = None,
    ) -> dict[str, Any]:
        """Wait for ``job`` and return its result; ``on_done`` runs when fal reports it
        finished, before the result is fetched. A timeout or a cancellation asks fal to cancel
        the job; a job already running may still complete (and be billed): the error says so."""
        stats = stats if stats is not None else WaitStats()
        deadline = time.monotonic() + timeout if timeout else None
        try:
            if timeout:
                await asyncio.wait_for(self.wait(job, deadline=deadline, stats=stats), timeout)
            else:
                await self.wait(job, stats=stats)
        except asyncio.TimeoutError as exc:
            outcome = await asyncio.shield(self.cancel(job))
            raise CancelledJobError(
                f"{job.endpoint} did not finish within {timeout:.0f}s; {outcome}",
                provider="fal",
                request_id=job.request_id,
            ) from exc
        except asyncio.CancelledError:
            stats.cancelled = await asyncio.shield(self.cancel(job))
            raise
        if on_done is not None:
            on_done()
        return await self.result(job)

    # -- storage ---------------------------------------------------------------------------

    async def upload(self, data: bytes, content_type: str, file_name: str) -> str:
        """Store bytes on fal's CDN (v3 token flow), falling back to the older storage API."""
        try:
            token = await self._cdn_token()
            response = await self.http.request(
                "POST",
                f"{self.urls['cdn']}/files/upload",
                content=data,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": content_type,
                    "X-Fal-File-Name": file_name,
                },
            )
            return str(response.json()["access_url"])
        except (ProviderError, KeyError, ValueError) as exc:
            log.debug("CDN upload failed (%s); falling back to storage upload", exc)
        init = await self.http.post_json(
            f"{self.urls['rest']}/storage/upload/initiate",
            {"file_name": file_name, "content_type": content_type},
            params={"storage_type": "gcs"},
        )
        # A signed storage URL on another host: never with the fal key (PROTOCOLS §1.6.C).
        await self.fetcher.request(
            "PUT", str(init["upload_url"]), content=data, headers={"Content-Type": content_type}
        )
        return str(init["file_url"])

    async def _cdn_token(self) -> str:
        async with self._token_lock:
            if self._token and self._token[1] > time.time() + 60:
                return self._token[0]
            data = await self.http.post_json(
                f"{self.urls['rest']}/storage/auth/token",
                {},
                params={"storage_type": "fal-cdn-v3"},
            )
            expires = _expiry(data.get("expires_at"))
            self._token = (str(data["token"]), expires)
            return self._token[0]


def _expiry(value: Any) -> float:
    """Epoch seconds of an ISO timestamp (UTC when it has no offset); 10 minutes if unreadable."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return time.time() + 600
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()
