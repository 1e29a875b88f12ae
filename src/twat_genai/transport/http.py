"""The HTTP client every provider uses, and the one place where HTTP failures become
:class:`~twat_genai.core.errors.ProviderError` subclasses.

Seams for tests and other hosts: ``base_url`` (any provider can be pointed at an emulator or
a proxy) and ``transport`` (an ``httpx`` transport).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from twat_genai.core.errors import (
    AnswerLostError,
    AuthenticationError,
    BlockedError,
    DownloadError,
    ModelError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServiceUnavailableError,
)
from twat_genai.core.redact import SECRET_HEADERS, redact
from twat_genai.transport._httpx import httpx
from twat_genai.transport.limits import AdaptiveLimiter
from twat_genai.transport.retry import RetryPolicy, note_retry, parse_retry_after

log = logging.getLogger("twat_genai.http")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: Cap on bodies we read into memory (JSON answers, fetched input images).
MAX_BODY_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class ErrorInfo:
    """What a provider's error envelope says: the message and how to classify it."""

    message: str
    error_type: str | None = None
    blocked: bool = False


def default_error_info(status: int, body: Any, text: str) -> ErrorInfo:
    """Read the common envelopes: ``{"detail": ...}``, ``{"error": {"message", "code"}}``."""
    if isinstance(body, dict):
        detail = body.get("detail")
        if detail is not None:
            if isinstance(detail, list):
                parts = []
                for item in detail:
                    if isinstance(item, dict):
                        loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                        parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
                    else:
                        parts.append(str(item))
                return ErrorInfo("; ".join(parts) or str(detail), body.get("error_type"))
            if isinstance(detail, dict):
                return ErrorInfo(str(detail.get("message") or detail), body.get("error_type"))
            return ErrorInfo(str(detail), body.get("error_type"))
        error = body.get("error")
        if isinstance(error, dict):
            return ErrorInfo(
                str(error.get("message") or error),
                str(error.get("code") or error.get("status") or error.get("type") or "") or None,
            )
        if isinstance(error, str):
            return ErrorInfo(error)
    return ErrorInfo(text[:300] or f"HTTP {status}")


#: Key headers httpx keeps when a redirect leads to another host (it drops Authorization only).
_UNSTRIPPED = SECRET_HEADERS - {"authorization"}


@functools.cache
def _ssl_context() -> Any:
    """One TLS context for every client of the process: loading the CA bundle costs ~50 ms
    per client, and a batch opens several (provider API, key-less downloads)."""
    return httpx.create_ssl_context()


def _proxied() -> bool:
    """Whether the environment names a proxy (``HTTPS_PROXY`` …): only httpx's own transport
    honours one."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


ErrorParser = Callable[[int, Any, str], ErrorInfo]
RetryMode = Literal["always", "safe", "never"]


class HttpClient:
    """An async HTTP client bound to one provider: auth headers, base URL, timeouts, retries,
    a concurrency limit, error mapping and redacted debug logs."""

    def __init__(
        self,
        provider: str,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,
        transport: Any = None,
        retry: RetryPolicy | None = None,
        max_in_flight: int = 64,
        error_parser: ErrorParser = default_error_info,
        request_id_headers: tuple[str, ...] = ("x-request-id",),
    ) -> None:
        self.provider = provider
        #: Response headers that carry the provider's request id, in order of preference.
        self.request_id_headers = request_id_headers
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.error_parser = error_parser
        self.limiter = AdaptiveLimiter(max_in_flight)
        self._headers = dict(headers or {})
        self._timeout = (
            timeout
            if isinstance(timeout, httpx.Timeout)
            else httpx.Timeout(timeout, connect=10.0)
            if timeout
            else DEFAULT_TIMEOUT
        )
        self._transport = transport
        self._client: Any = None

    def __repr__(self) -> str:  # never show headers: they hold the key
        return f"HttpClient(provider={self.provider!r}, base_url={self.base_url!r})"

    @property
    def client(self) -> Any:
        """The wire: aiohttp's pool (:mod:`twat_genai.transport.aio`), or an
        ``httpx.AsyncClient`` when a ``transport`` was given or the environment names a proxy.
        Both answer with ``httpx.Response`` objects and raise httpx's exceptions."""
        if self._client is None:
            # httpx drops only Authorization on a redirect to another host; a client that
            # carries any other key header (x-goog-api-key) must not follow redirects.
            follow = not any(k.lower() in _UNSTRIPPED for k in self._headers)
            if self._transport is None and not _proxied():
                from twat_genai.transport.aio import AiohttpClient

                self._client = AiohttpClient(
                    headers=self._headers,
                    timeout=self._timeout,
                    follow_redirects=follow,
                    ssl_context=_ssl_context,
                )
            else:
                self._client = httpx.AsyncClient(
                    headers=self._headers,
                    timeout=self._timeout,
                    transport=self._transport,
                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
                    follow_redirects=follow,
                    verify=_ssl_context() if self._transport is None else True,
                )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def url(self, path: str) -> str:
        """Absolute URLs pass through; relative paths join the base URL."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        retry: RetryMode = "always",
        ok: Callable[[int], bool] | None = None,
        timeout: httpx.Timeout | float | None = None,
        safe_if: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request and return the response, or raise a mapped ProviderError.

        ``retry="safe"`` is for calls that may create a billable job: only failures where the
        request surely did not start a job are retried: a connection never made, and the
        answers ``safe_if`` accepts (a provider knows its own signs that a request reached a
        job queue; by default a 429 or a 503).
        """
        url = self.url(path)
        policy = self.retry
        started = time.monotonic()
        attempt = 0
        while True:
            error: ProviderError
            try:
                response = await self._send(method, url, timeout=timeout, **kwargs)
            except httpx.TransportError as exc:
                error, may_retry = self._transport_error(method, url, exc, retry)
            else:
                is_ok = ok(response.status_code) if ok else response.is_success
                if is_ok:
                    self.limiter.on_success()
                    return response
                error = self.error_for(response)
                if response.status_code == 429:
                    self.limiter.on_rate_limited()
                may_retry = response.status_code in policy.statuses and (
                    retry == "always"
                    or (safe_if(response) if safe_if else response.status_code in (429, 503))
                )
            attempt += 1
            delay = (
                error.retry_after if error.retry_after is not None else policy.backoff(attempt - 1)
            )
            elapsed = time.monotonic() - started
            if (
                retry == "never"
                or not may_retry
                or attempt >= policy.attempts
                or delay > policy.max_retry_after
                or elapsed + delay > policy.total_time
            ):
                raise error
            log.debug("retrying %s %s in %.2fs after: %s", method, _short(url), delay, error)
            note_retry()
            await policy.sleep(delay)

    def _transport_error(
        self, method: str, url: str, exc: httpx.TransportError, retry: RetryMode
    ) -> tuple[ProviderError, bool]:
        """The error for a request that broke in transit, and whether sending it again is
        allowed. Only a connection that was never made proves the request did not arrive; a
        call that may start a billable job (``retry="safe"``) whose answer was lost after that
        is an :class:`AnswerLostError`, never sent again here."""
        where = f"{method} {_short(url)}"
        if not sent(exc):
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, httpx.TimeoutException):
                return ProviderTimeoutError(f"{where}: {reason}", provider=self.provider), True
            return ProviderConnectionError(
                f"cannot reach {_short(url)}: {reason}", provider=self.provider
            ), True
        cause = broken(exc)
        if retry == "safe":
            return AnswerLostError(f"{where}: {cause}", provider=self.provider), False
        kind = ProviderTimeoutError if isinstance(exc, httpx.TimeoutException) else None
        return (kind or ProviderConnectionError)(
            f"{where}: {cause}", provider=self.provider
        ), retry == "always"

    async def _send(
        self, method: str, url: str, *, timeout: httpx.Timeout | float | None, **kwargs: Any
    ) -> httpx.Response:
        async with self.limiter:
            if timeout is not None:
                kwargs["timeout"] = timeout
            response: httpx.Response = await self.client.request(method, url, **kwargs)
        if log.isEnabledFor(logging.DEBUG):  # _short() redacts: not for every request
            log.debug("%s %s -> %s", method, _short(url), response.status_code)
        return response

    def error_for(self, response: httpx.Response) -> ProviderError:
        """Map an unsuccessful response to the ProviderError subclass for its status."""
        status = response.status_code
        text = response.text[:2000] if response.content else ""
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = None
        info = self.error_parser(status, body, text)
        request_id = next(
            (response.headers[h] for h in self.request_id_headers if h in response.headers), None
        )
        kw: dict[str, Any] = {
            "provider": self.provider,
            "status_code": status,
            "request_id": request_id,
            "error_type": info.error_type,
            "body": body,
            "retry_after": parse_retry_after(response.headers, body),
        }
        message = f"{info.message} (HTTP {status})"
        if info.blocked:
            return BlockedError(message, reason=info.error_type, **kw)
        if status in (401, 403):
            return AuthenticationError(message, **kw)
        if status == 429:
            return RateLimitError(message, **kw)
        if status in (408, 502, 503, 504) or status >= 500:
            return ServiceUnavailableError(message, **kw)
        return ModelError(message, **kw)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        response = await self.request("GET", path, **kwargs)
        return _json(response, self.provider)

    async def post_json(self, path: str, payload: Any, **kwargs: Any) -> Any:
        response = await self.request("POST", path, json=payload, **kwargs)
        return _json(response, self.provider)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        limited: bool = True,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[httpx.Response]:
        """A streamed response (status already checked); retried only before the body flows.

        ``limited=False`` is for long-lived streams (status events) that must not hold one of
        the provider's in-flight slots for the whole job.
        """
        url = self.url(path)
        policy = retry or self.retry
        started = time.monotonic()
        attempt = 0
        flowing = False
        while True:
            try:
                gate = self.limiter if limited else contextlib.nullcontext()
                async with gate, self.client.stream(method, url, **kwargs) as response:
                    if not response.is_success:
                        await response.aread()
                        if response.status_code == 429:
                            self.limiter.on_rate_limited()
                        raise self.error_for(response)
                    self.limiter.on_success()
                    flowing = True
                    yield response
                    return
            except (httpx.TransportError, ProviderError) as exc:
                retryable = isinstance(exc, httpx.TransportError) or exc.retryable
                attempt += 1
                asked = exc.retry_after if isinstance(exc, ProviderError) else None
                delay = asked if asked is not None else policy.backoff(attempt - 1)
                # Once the caller reads the body, a failure is theirs: a context manager
                # cannot hand out a second response.
                if (
                    flowing
                    or not retryable
                    or attempt >= policy.attempts
                    or delay > policy.max_retry_after
                    or time.monotonic() - started + delay > policy.total_time
                ):
                    if isinstance(exc, ProviderError):
                        raise
                    raise self._transport_error(method, url, exc, "always")[0] from exc
                note_retry()
                await policy.sleep(delay)

    async def fetch_bytes(self, url: str, *, max_bytes: int = MAX_BODY_BYTES) -> tuple[bytes, str]:
        """GET a file into memory with a size cap; returns (bytes, content type)."""
        chunks: list[bytes] = []
        content_type = await self.fetch_to(url, chunks.append, max_bytes=max_bytes)
        return b"".join(chunks), content_type

    async def fetch_to(
        self,
        url: str,
        sink: Callable[[bytes], object],
        *,
        max_bytes: int = MAX_BODY_BYTES,
        retry: RetryPolicy | None = None,
    ) -> str:
        """GET a file chunk by chunk into ``sink`` with a size cap; returns the content type.
        ``retry`` replaces the client's policy (a caller that retries whole downloads itself
        passes :data:`~twat_genai.transport.retry.NO_RETRY`). Any failure is a
        :class:`DownloadError`; ``retryable`` on it says whether fetching again may help (a cut connection, a short body, a 5xx or a 429 may; a 404 will not)."""
        size = 0
        try:
            async with self.stream("GET", url, retry=retry) as response:
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise DownloadError(
                        f"{_short(url)} is larger than {max_bytes} bytes", retryable=False
                    )
                try:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise DownloadError(
                                f"{_short(url)} is larger than {max_bytes} bytes",
                                retryable=False,
                            )
                        sink(chunk)
                except httpx.TransportError as exc:
                    raise DownloadError(
                        f"download of {_short(url)} was cut short after {size} bytes: "
                        f"{broken(exc)}",
                        provider=self.provider,
                    ) from exc
                if declared and size < declared and "content-encoding" not in response.headers:
                    raise DownloadError(
                        f"download of {_short(url)} was cut short: {size} of {declared} bytes",
                        provider=self.provider,
                    )
                return str(response.headers.get("content-type", ""))
        except DownloadError:
            raise
        except ProviderError as exc:
            raise DownloadError(
                f"download of {_short(url)} failed: {exc}",
                provider=self.provider,
                status_code=exc.status_code,
                retry_after=exc.retry_after,
                retryable=exc.retryable,
            ) from exc


def sent(exc: httpx.TransportError) -> bool:
    """Whether the request may have reached the server: only a connection that was never made
    (refused, unreachable, no pool slot) proves it did not."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def broken(exc: httpx.TransportError) -> str:
    """What happened to a connection after the request was sent, in words."""
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time after the request was sent (read timeout)"
    text = str(exc)
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in text:
        return "the connection closed after the request was sent, with no answer"
    if isinstance(exc, httpx.RemoteProtocolError) and text:
        return f"the connection closed early ({text.rstrip('.')})"
    return "connection reset after the request was sent" + (f" ({text})" if text else "")


def _json(response: httpx.Response, provider: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(
            f"expected JSON from {_short(str(response.url))}, got {response.headers.get('content-type')}",
            provider=provider,
            status_code=response.status_code,
        ) from exc


def _short(url: str) -> str:
    """A URL fit for messages: no query string (it may hold a key), data URIs cut."""
    if url.startswith("data:"):
        return url[:24] + "..."
    return redact(url.split("?", 1)[0])


async def gather_limited(limit: int, *aws: Any) -> list[Any]:
    """``asyncio.gather`` with at most ``limit`` awaitables running at once."""
    sem = asyncio.Semaphore(limit)

    async def one(aw: Any) -> Any:
        async with sem:
            return await aw

    return list(await asyncio.gather(*(one(a) for a in aws)))
