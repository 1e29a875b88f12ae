"""Input URLs, fetched as a provider fetches them: really, or not at all.

A provider downloads the image URLs it is given; when it cannot (unreachable host, HTTP error,
not an image) the request fails. The emulator does the same instead of inventing a stand-in
picture, so a client that sends a URL nobody can read fails here as it would in production.

What is fetched: ``data:`` URIs (decoded), files stored in this emulator (no HTTP), and
``http(s)`` URLs on loopback addresses (127.0.0.0/8, ::1, ``localhost``) with a timeout, no
proxy, at most :data:`MAX_REDIRECTS` redirects (each to loopback too) and a size cap. Any other
host counts as unreachable unless the server was started with ``fetch_remote=True``
(``--fetch-remote``): tests must not depend on the internet, and a test that passes only
because the emulator went online would hide a bug. Apps turn :class:`InputError` into their
provider's own error shape.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from . import media
from .host import Host, InputError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["FETCH_TIMEOUT", "MAX_INPUT_BYTES", "InputError", "InputFetcher", "is_loopback"]

#: Seconds a whole fetch may take.
FETCH_TIMEOUT = 10.0
#: Largest input accepted, in bytes.
MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 3


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL's hostname) is a loopback name or address."""
    if not host:
        return False
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class InputFetcher:
    """Fetches input URLs for the apps of one server (see the module docstring)."""

    def __init__(self, server: Host, *, fetch_remote: bool = False) -> None:
        self.server = server
        self.fetch_remote = fetch_remote
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str) -> bytes:
        """The bytes ``url`` points at, or :class:`InputError` (never anything else)."""
        if url.startswith("data:"):
            try:
                return media.decode_data_uri(url)[0]
            except media.MediaError as exc:
                raise InputError("decode", str(exc), url[:64]) from None
        stored = self.server.files.resolve(url)
        if stored is not None:
            if stored.broken:
                raise InputError("download", "the file answered HTTP 500", url)
            return stored.data
        try:
            return await asyncio.wait_for(self._get(url), FETCH_TIMEOUT)
        except InputError:
            raise
        except asyncio.TimeoutError:
            raise InputError("download", f"timed out after {FETCH_TIMEOUT:g} s", url) from None
        except Exception as exc:  # a malformed URL or a refused connection: the input's fault
            reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            raise InputError("download", reason, url) from None

    async def fetch_many(self, urls: Iterable[str]) -> dict[str, bytes | InputError]:
        """Every distinct URL fetched concurrently; failures are returned, not raised."""
        distinct = list(dict.fromkeys(urls))

        async def one(u: str) -> bytes | InputError:
            try:
                return await self.fetch(u)
            except InputError as exc:
                return exc

        results = await asyncio.gather(*(one(u) for u in distinct))
        return dict(zip(distinct, results, strict=True))

    def _check(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError as exc:
            raise InputError("download", f"invalid URL: {exc}", url) from None
        if parts.scheme not in {"http", "https"}:
            raise InputError("download", f"unsupported URL scheme {parts.scheme!r}", url)
        if not parts.hostname:
            raise InputError("download", "invalid URL: no host", url)
        if not (self.fetch_remote or is_loopback(parts.hostname)):
            raise InputError(
                "download",
                f"host {parts.hostname} is unreachable from the emulator "
                "(it fetches loopback URLs only unless started with --fetch-remote)",
                url,
            )

    async def _get(self, url: str) -> bytes:
        session = await self._client()
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            self._check(current)
            async with session.get(current, allow_redirects=False) as resp:
                if resp.status in {301, 302, 303, 307, 308} and "location" in resp.headers:
                    current = urljoin(current, resp.headers["location"])
                    continue
                if resp.status != 200:
                    raise InputError("download", f"HTTP {resp.status}", url)
                declared = resp.content_length
                if declared is not None and declared > MAX_INPUT_BYTES:
                    raise InputError("download", f"larger than {MAX_INPUT_BYTES} bytes", url)
                data = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    data += chunk
                    if len(data) > MAX_INPUT_BYTES:
                        raise InputError("download", f"larger than {MAX_INPUT_BYTES} bytes", url)
                return bytes(data)
        raise InputError("download", f"more than {MAX_REDIRECTS} redirects", url)

    async def _client(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT), trust_env=False
            )
        return self._session

    async def aclose(self) -> None:
        """Close the HTTP client (when one was made)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
