"""The wire below :class:`~twat_genai.transport.http.HttpClient`: aiohttp's connection pool,
answering with the ``httpx.Response`` objects every provider already reads.

Why (docs/decisions.md, "HTTP wire: aiohttp's pool, httpx's responses"): httpcore's pool looks
at every open connection for each request (a socket syscall for each idle one), and httpx's
client adds its own per-request work; together they were most of the client's CPU in a batch.
aiohttp keeps idle connections per host and parses HTTP in C.

What stays as it was: the request a server sees (httpx's default headers, its JSON and form
encodings), responses (``httpx.Response``: content decoding, ``aiter_lines``, ``json()``),
redirects (followed only by key-less clients; ``Authorization`` is dropped on a redirect to
another host) and failures, raised as the httpx exceptions httpcore raises for the same event,
so HttpClient classifies them the same way. Nothing is sent twice here.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from twat_genai.transport._httpx import httpx

#: Seconds an idle connection stays open for reuse.
KEEPALIVE = 15.0
#: Longest status line or header field accepted (h11's limit, which httpcore used).
_MAX_LINE = 64 * 1024
#: httpx's limit on redirects followed.
_MAX_REDIRECTS = 20


@functools.cache
def _default_headers() -> tuple[tuple[str, str], ...]:
    """What httpx sends on every request (Accept, Accept-Encoding with the decoders it has,
    Connection, User-Agent): a server sees the same request as before."""
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(204))) as client:
        return tuple(client.headers.items())


class AiohttpClient:
    """The part of ``httpx.AsyncClient`` HttpClient uses (``request``, ``stream``, ``aclose``),
    sent through one aiohttp session opened on first use in the running loop (a pool belongs
    to one event loop). ``ssl_context`` is asked for on the first https request only: loading
    a CA bundle costs tens of milliseconds that plain http never needs."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
        follow_redirects: bool,
        ssl_context: Callable[[], ssl.SSLContext],
    ) -> None:
        self._headers: CIMultiDict[str] = CIMultiDict(_default_headers())
        self._headers.update(headers)
        self._timeout = timeout
        self._follow = follow_redirects
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            session = aiohttp.ClientSession(
                # No pool limit: callers bound concurrency (batch slots, in-flight limits).
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx.Response decodes content-encoding
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
                max_line_size=_MAX_LINE,
                max_field_size=_MAX_LINE,
            )
            # aiohttp sends an idempotent request again when its connection breaks; whether a
            # request goes out again is HttpClient's decision (made and counted there).
            session._retry_connection = False
            self._session = session
        return self._session

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request and read its whole answer (as ``httpx.AsyncClient.request``)."""
        answer = await self._send(method, url, **kwargs)
        try:
            body = await answer.read()
        except Exception as exc:
            raise _mapped(exc) from exc
        finally:
            answer.release()
        response = _response(method, url, answer, httpx.ByteStream(body))
        response.read()
        return response

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A response whose body is read as it arrives (as ``httpx.AsyncClient.stream``)."""
        answer = await self._send(method, url, **kwargs)
        response = _response(method, url, answer, _Body(answer))
        try:
            yield response
        finally:
            await response.aclose()

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> aiohttp.ClientResponse:
        merged = self._headers.copy()
        if headers:
            for name, value in headers.items():
                merged[name] = value
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(
                json, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()
            merged.setdefault("Content-Type", "application/json")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else bytes(content)
        elif data is not None or files is not None:
            body, content_type = _form(method, url, data, files)
            merged.setdefault("Content-Type", content_type)
        target = URL(url)
        if params:
            # As httpx does: the parameters replace the URL's own query.
            target = target.with_query({k: _query_value(v) for k, v in params.items()})
        t = self._timeout if timeout is None else _as_timeout(timeout)
        try:
            return await self._open().request(
                method,
                target,
                headers=merged,
                data=body,
                allow_redirects=self._follow,
                max_redirects=_MAX_REDIRECTS,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=t.connect, sock_read=t.read),
                ssl=self._ssl_context() if target.scheme == "https" else True,
            )
        except Exception as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Response(httpx.Response):
    """An ``httpx.Response`` whose request is built only if someone asks for it (building one
    parses the URL again: a third of a response's cost, and nothing reads it on success)."""

    _lazy: tuple[str, str] = ("GET", "")

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = httpx.Request(*self._lazy)
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value


def _response(method: str, url: str, answer: aiohttp.ClientResponse, stream: Any) -> httpx.Response:
    response = _Response(
        answer.status,
        headers=answer.raw_headers,
        stream=stream,
        extensions={
            "http_version": b"HTTP/1.1",
            "reason_phrase": (answer.reason or "").encode("ascii", "replace"),
        },
    )
    response._lazy = (method, str(answer.url) if answer.history else url)
    return response


class _Body(httpx.AsyncByteStream):
    """A response body read as it arrives; closing it returns a finished connection to the
    pool and drops one whose body was not read to the end."""

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_any():
                yield chunk
        except Exception as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        if self._answer.content.at_eof():
            self._answer.release()
        else:
            self._answer.close()


def _form(method: str, url: str, data: Any, files: Any) -> tuple[bytes, str]:
    """A form (urlencoded, or multipart with ``files``) encoded exactly as httpx does."""
    request = httpx.Request(method, url, data=data, files=files)
    return request.read(), request.headers["Content-Type"]


def _query_value(value: Any) -> Any:
    """httpx's spelling of query values (``true``/``false``, ``""`` for None); lists repeat."""
    if isinstance(value, (list, tuple)):
        return [_query_value(v) for v in value]
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def _as_timeout(value: httpx.Timeout | float) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def _mapped(exc: Exception) -> Exception:
    """The httpx exception httpcore raises for the same failure (others pass through):
    a connection never made is a ``ConnectError``/``ConnectTimeout``; one that broke after the
    request went out is a ``RemoteProtocolError``, ``ReadError`` or ``ReadTimeout``."""
    text = str(exc)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text or "timed out connecting")
    if isinstance(exc, (aiohttp.SocketTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(text or "timed out reading")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body ({text})"
        )
    if isinstance(exc, aiohttp.TooManyRedirects):
        return httpx.TooManyRedirects(text)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(text)
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return httpx.ReadError(text or type(exc).__name__)
    return exc
