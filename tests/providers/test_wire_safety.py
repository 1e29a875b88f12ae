"""Money and keys on the wire, over real HTTP against a scripted server: a fal submit that may
already be a job is never sent twice, the fal key never reaches a signed upload URL, and a key
header never follows a redirect to another host."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from twat_genai.core.errors import ProviderError, ServiceUnavailableError
from twat_genai.core.models import ImageGenerationRequest
from twat_genai.providers.base import CallContext
from twat_genai.providers.fal import FalProvider
from twat_genai.providers.gemini import GeminiProvider
from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.server import EmulatorApp, EmulatorRequest, EmulatorResponse, json_response
from twat_genai.transport.retry import RetryPolicy

Handler = Callable[[EmulatorRequest], EmulatorResponse]


class Scripted(EmulatorApp):
    """Answers with ``handler`` and remembers every request (path and headers)."""

    name = "scripted"

    def __init__(self) -> None:
        super().__init__()
        self.handler: Handler = lambda req: json_response({"detail": "Not Found"}, 404)
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    async def handle(self, req: EmulatorRequest) -> EmulatorResponse:
        self.seen.append((req.method, req.path, {k: req.headers.get(k) or "" for k in req.headers}))
        return self.handler(req)


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[tuple[EmulatorServer, Scripted]]:
    app = Scripted()
    with running_emulator(port=0, apps={"/api": app}) as server:
        yield server, app


@pytest.fixture
def scripted(scripted_server: tuple[EmulatorServer, Scripted]) -> tuple[EmulatorServer, Scripted]:
    server, app = scripted_server
    app.seen.clear()
    return server, app


def _no_wait(provider: Any) -> None:
    async def instant(_: float) -> None:
        return None

    provider.http.retry = RetryPolicy(sleep=instant)
    provider.fetcher.retry = RetryPolicy(sleep=instant)


def _submit(root: str) -> dict[str, Any]:
    async def go() -> Any:
        async with FalProvider(api_key="fal-wire-key-0123456789", base_url=f"{root}/api") as p:
            _no_wait(p)
            return await p.queue.submit("fal-ai/flux-lora", {"prompt": "x"})

    return {"job": asyncio.run(go())}


def test_fal_submit_answered_503_with_a_request_id_is_not_sent_again(
    scripted: tuple[EmulatorServer, Scripted],
) -> None:
    server, app = scripted
    app.handler = lambda req: json_response(
        {"detail": "runner_scheduling_failure"}, 503, {"x-fal-request-id": "req-1"}
    )
    with pytest.raises(ServiceUnavailableError):
        _submit(server.root)
    assert [m for m, _, _ in app.seen] == ["POST"]  # it may be a job already: sent once


def test_fal_submit_answered_503_without_a_request_id_is_retried(
    scripted: tuple[EmulatorServer, Scripted],
) -> None:
    server, app = scripted
    answers = iter([json_response({"detail": "upstream busy"}, 503)])

    def handler(req: EmulatorRequest) -> EmulatorResponse:
        base = f"{server.root}/api/queue/fal-ai/flux-lora/requests/r1"
        ok = json_response(
            {
                "request_id": "r1",
                "status_url": base + "/status",
                "response_url": base,
                "cancel_url": base + "/cancel",
            }
        )
        return next(answers, ok)

    app.handler = handler
    result = _submit(server.root)
    assert result["job"].request_id == "r1"
    assert [m for m, _, _ in app.seen] == ["POST", "POST"]


def test_fal_key_never_reaches_the_signed_upload_url(
    scripted: tuple[EmulatorServer, Scripted],
) -> None:
    server, app = scripted

    def handler(req: EmulatorRequest) -> EmulatorResponse:
        if req.path.endswith("/storage/auth/token"):
            return json_response({"detail": "CDN unavailable"}, 400)  # -> the older storage API
        if req.path.endswith("/storage/upload/initiate"):
            return json_response(
                {"upload_url": f"{server.root}/api/signed-put", "file_url": "http://x/f.png"}
            )
        if req.path == "/signed-put":
            return EmulatorResponse.raw(b"", "text/plain")
        return json_response({"detail": "Not Found"}, 404)

    app.handler = handler

    async def go() -> str:
        async with FalProvider(
            api_key="fal-wire-key-0123456789", base_url=f"{server.root}/api"
        ) as p:
            _no_wait(p)
            return await p.queue.upload(b"\x89PNG....", "image/png", "a.png")

    assert asyncio.run(go()) == "http://x/f.png"
    puts = [headers for method, path, headers in app.seen if path == "/signed-put"]
    assert len(puts) == 1 and "authorization" not in puts[0]
    initiate = [h for _, path, h in app.seen if path.endswith("/initiate")]
    assert initiate and initiate[0]["authorization"].startswith("Key ")  # the API call has it


def test_gemini_key_header_does_not_follow_a_redirect(
    scripted: tuple[EmulatorServer, Scripted],
) -> None:
    server, app = scripted
    elsewhere = server.root.replace("127.0.0.1", "localhost")  # another origin, same server

    def handler(req: EmulatorRequest) -> EmulatorResponse:
        if req.path.startswith("/elsewhere"):
            return json_response({"error": {"message": "took the bait"}}, 500)
        return EmulatorResponse.raw(
            b"", "text/plain", 307, headers={"location": f"{elsewhere}/api/elsewhere"}
        )

    app.handler = handler

    async def go() -> None:
        provider = GeminiProvider(
            api_key="AIzaWireSafety0123456789abcdef", base_url=f"{server.root}/api"
        )
        async with provider:
            _no_wait(provider)
            await provider.generate(ImageGenerationRequest(prompt="x"), CallContext())

    with pytest.raises(ProviderError):
        asyncio.run(go())
    assert not [p for _, p, _ in app.seen if p.startswith("/elsewhere")]  # never followed


def test_downloads_honour_retry_after_and_slow_down_on_429(
    scripted: tuple[EmulatorServer, Scripted],
) -> None:
    from twat_genai.transport.http import HttpClient

    server, app = scripted
    answers = iter([json_response({"detail": "slow down"}, 429, {"retry-after": "2"})])
    app.handler = lambda req: next(answers, EmulatorResponse.raw(b"\x89PNG-bytes", "image/png"))
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    async def go() -> tuple[bytes, int]:
        client = HttpClient("files", retry=RetryPolicy(sleep=record), max_in_flight=8)
        try:
            data, _ = await client.fetch_bytes(f"{server.root}/api/file.png")
            assert client.limiter.limit == 4  # fewer downloads at once after a 429 ...
            for _ in range(client.limiter.recover_after):
                await client.fetch_bytes(f"{server.root}/api/file.png")
            return data, client.limiter.limit
        finally:
            await client.aclose()

    data, limit = asyncio.run(go())
    assert data == b"\x89PNG-bytes"
    assert waits == [2.0]  # the server's Retry-After, not the client's own backoff
    assert limit == 5  # ... and successful downloads win the room back
