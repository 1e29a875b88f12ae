"""What a broken connection means depends on when it broke. A connection never made proves the
request did not arrive (retried); one that breaks after the request was sent may have started a
billable job: a paid call then fails as an answer lost, and is not sent twice. Real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from twat_genai.core.errors import AnswerLostError, ProviderConnectionError
from twat_genai.transport.http import HttpClient
from twat_genai.transport.retry import RetryPolicy, retry_listener

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@asynccontextmanager
async def server(answers: list[str]) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that reads each request, then answers ``ok`` or resets the connection
    (``reset``), one answer per request in order; yields its URL and the requests it read."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        seen.append(head + await reader.readexactly(length))
        if answers[len(seen) - 1] == "ok":
            writer.write(OK)
            await writer.drain()
            writer.close()
            return
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a TCP reset after the request arrived

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        srv.close()


def counting() -> tuple[list[str], Callable[[str], None]]:
    notes: list[str] = []
    return notes, notes.append


def test_a_paid_call_whose_answer_is_lost_is_not_sent_again() -> None:
    async def run() -> None:
        async with server(["reset", "ok"]) as (url, seen):
            http = HttpClient("acme", base_url=url, retry=FAST)
            with pytest.raises(AnswerLostError) as caught:
                await http.post_json("generate", {"prompt": "a cat"}, retry="safe")
            await http.aclose()
        assert len(seen) == 1  # never sent twice
        message = str(caught.value)
        assert message.startswith("acme: answer lost after submit (the job may have been billed)")
        assert "after the request was sent" in message
        assert "cannot reach" not in message

    asyncio.run(run())


def test_a_safe_read_is_retried_after_a_reset_and_the_retry_is_counted() -> None:
    async def run() -> None:
        notes, note = counting()
        retry_listener.set(note)
        async with server(["reset", "ok"]) as (url, seen):
            http = HttpClient("acme", base_url=url, retry=FAST)
            assert await http.get_json("status") == {}
            await http.aclose()
        assert len(seen) == 2
        assert notes == ["retry"]

    asyncio.run(run())


def test_a_read_that_keeps_breaking_names_the_true_cause() -> None:
    async def run() -> None:
        async with server(["reset"] * 3) as (url, seen):
            http = HttpClient("acme", base_url=url, retry=FAST)
            with pytest.raises(ProviderConnectionError) as caught:
                await http.get_json("status")
            await http.aclose()
        assert len(seen) == 3
        assert "after the request was sent" in str(caught.value)
        assert "cannot reach" not in str(caught.value)

    asyncio.run(run())


def test_a_connection_never_made_is_retried_even_for_a_paid_call() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there: connection refused

    async def run() -> None:
        notes, note = counting()
        retry_listener.set(note)
        http = HttpClient("acme", base_url=f"http://127.0.0.1:{port}", retry=FAST)
        with pytest.raises(ProviderConnectionError) as caught:
            await http.post_json("generate", {}, retry="safe")
        await http.aclose()
        assert str(caught.value).startswith(f"acme: cannot reach http://127.0.0.1:{port}/generate")
        assert not isinstance(caught.value, AnswerLostError)
        assert notes == ["retry", "retry"]  # three attempts

    asyncio.run(run())
