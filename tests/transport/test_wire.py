"""The aiohttp wire below HttpClient: a server sees the request httpx would send, and callers
get the ``httpx.Response`` (decoded, streamed, with its URL) and the redirects, timeouts and
errors they got from httpx. Real sockets, a scripted server."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from twat_genai.core.errors import ProviderError, ProviderTimeoutError
from twat_genai.transport._httpx import httpx
from twat_genai.transport.aio import AiohttpClient
from twat_genai.transport.http import HttpClient
from twat_genai.transport.retry import RetryPolicy

FAST = RetryPolicy(attempts=1)
Answer = Callable[[str, bytes], bytes]


def reply(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> bytes:
    head = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    return f"HTTP/1.1 {status} X\r\n{lines}\r\n".encode() + body


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[tuple[str, list[bytes]]]:
    """Keep-alive HTTP/1.1 server: ``answer(path, raw request)`` gives each raw response
    (``b""``: say nothing and hold the connection); yields its URL and every raw request."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                raw = head + await reader.readexactly(length)
                seen.append(raw)
                out = answer(raw.split(b" ")[1].decode(), raw)
                if not out:
                    await asyncio.sleep(30)
                writer.write(out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}", seen
    finally:
        srv.close()


def headers_of(raw: bytes) -> dict[str, str]:
    lines = raw.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]
    return {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}


def test_default_client_is_the_aiohttp_wire_and_a_transport_or_proxy_keeps_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(HttpClient("acme").client, AiohttpClient)
    given = HttpClient("acme", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert isinstance(given.client, httpx.AsyncClient)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert isinstance(HttpClient("acme").client, httpx.AsyncClient)


def test_the_request_is_the_one_httpx_sends() -> None:
    """Same default headers, the client's headers, compact JSON, query parameters."""

    async def run() -> list[bytes]:
        async with server(lambda path, raw: reply(200)) as (url, seen):
            http = HttpClient("acme", base_url=url, headers={"Authorization": "Key k-1"})
            await http.post_json("jobs", {"prompt": "ü", "n": 2}, params={"logs": True})
            await http.aclose()
        return seen

    (raw,) = asyncio.run(run())
    sent = headers_of(raw)
    assert raw.startswith(b"POST /jobs?logs=true HTTP/1.1\r\n")
    assert sent["user-agent"].startswith("python-httpx")
    assert sent["accept"] == "*/*"
    assert "gzip" in sent["accept-encoding"]
    assert sent["authorization"] == "Key k-1"
    assert sent["content-type"] == "application/json"
    assert raw.endswith('{"prompt":"ü","n":2}'.encode())


def test_a_form_with_files_is_encoded_as_httpx_encodes_it() -> None:
    async def run() -> list[bytes]:
        async with server(lambda path, raw: reply(200)) as (url, seen):
            http = HttpClient("acme", base_url=url)
            files = [("image", ("a.png", b"\x89PNG-bytes", "image/png"))]
            await http.request("POST", "edits", data={"prompt": "x"}, files=files)
            await http.aclose()
        return seen

    (raw,) = asyncio.run(run())
    assert headers_of(raw)["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="prompt"\r\n\r\nx\r\n' in raw
    assert b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG-bytes' in raw


def test_a_compressed_answer_is_decoded_and_the_response_knows_its_url() -> None:
    body = gzip.compress(b'{"ok": true}')

    async def run() -> tuple[object, str]:
        async with server(lambda p, r: reply(200, body, {"Content-Encoding": "gzip"})) as (
            url,
            _,
        ):
            http = HttpClient("acme", base_url=url)
            response = await http.request("GET", "status")
            await http.aclose()
        return response.json(), str(response.url)

    data, where = asyncio.run(run())
    assert data == {"ok": True}
    assert where.endswith("/status")


def test_a_stream_left_unread_does_not_spoil_the_next_request() -> None:
    big = b"x" * 300_000

    def answer(path: str, raw: bytes) -> bytes:
        return reply(200, big if path == "/big" else b'{"n": 1}')

    async def run() -> object:
        async with server(answer) as (url, _):
            http = HttpClient("acme", base_url=url)
            async with http.stream("GET", "big") as response:
                async for _chunk in response.aiter_bytes():
                    break
            data = await http.get_json("small")
            await http.aclose()
        return data

    assert asyncio.run(run()) == {"n": 1}


def test_redirects_drop_authorization_on_another_host_and_keep_it_on_the_same() -> None:
    async def run() -> list[bytes]:
        async with server(lambda p, r: reply(200)) as (other, elsewhere):

            def answer(path: str, raw: bytes) -> bytes:
                if path == "/away":
                    return reply(307, b"", {"Location": other.replace("127.0.0.1", "localhost")})
                if path == "/near":
                    return reply(307, b"", {"Location": "/landed"})
                return reply(200)

            async with server(answer) as (url, here):
                http = HttpClient("acme", base_url=url, headers={"Authorization": "Key k-2"})
                await http.get_json("near")
                await http.get_json("away")
                await http.aclose()
        return [*here, *elsewhere]

    _near, landed, _away, other = asyncio.run(run())
    assert headers_of(landed)["authorization"] == "Key k-2"
    assert landed.startswith(b"GET /landed ")
    assert "authorization" not in headers_of(other)


def test_a_silent_server_is_a_timeout_error() -> None:
    async def run() -> None:
        async with server(lambda p, r: b"") as (url, _):
            http = HttpClient("acme", base_url=url, retry=FAST, timeout=0.2)
            try:
                await http.get_json("slow")
            finally:
                await http.aclose()

    with pytest.raises(ProviderTimeoutError):
        asyncio.run(run())


def test_an_answer_that_is_not_http_is_a_provider_error() -> None:
    async def run() -> None:
        async with server(lambda p, r: b"SMTP ready\r\n\r\n") as (url, _):
            http = HttpClient("acme", base_url=url, retry=FAST)
            try:
                await http.get_json("x")
            finally:
                await http.aclose()

    with pytest.raises(ProviderError):
        asyncio.run(run())
