"""The server as its apps see it, and the types they share: the bottom of the emulator.

Apps, the file store, the input fetcher, the plugins and the control API all need the server,
and the server needs them. They name it through :class:`Host` (a protocol) instead of importing
:mod:`.server`, so every import points downward and none loops back. Only :mod:`.http` is
below this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .http import EmulatorResponse


class InputError(Exception):
    """An input that cannot be used; ``kind`` is ``download`` or ``decode``."""

    def __init__(self, kind: str, reason: str, url: str) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.url = kind, reason, url


#: Fetched inputs by URL: bytes, or why they could not be had.
Fetched = Mapping[str, "bytes | InputError"]


@dataclass
class StoredFile:
    """A file served by the emulator (an upload or a generated output).

    ``owner`` is the provider that made it (its download faults and counters apply);
    ``broken`` answers 500, ``drip`` sends slowly and ``expires_at`` (server clock) turns the
    file into a 404 from then on: the ``broken_url``, ``drip`` and ``expire`` scenarios.
    """

    id: str
    name: str
    content_type: str
    data: bytes
    broken: bool = False
    owner: str = "files"
    drip: bool = False
    expires_at: float | None = None


class Files(Protocol):
    """The server's file store (:class:`.store.FileStore`)."""

    def new_id(self) -> str: ...

    def put(
        self,
        data: bytes,
        content_type: str,
        name: str | None = None,
        *,
        route: str = "/files",
        file_id: str | None = None,
        broken: bool = False,
        owner: str = "files",
        drip: bool = False,
        expire_after: float | None = None,
    ) -> str: ...

    def url_for(self, file_id: str, name: str, route: str = "/files") -> str: ...

    def get(self, file_id: str) -> StoredFile | None: ...

    def resolve(self, url: str) -> StoredFile | None: ...

    def serve(self, file_id: str, *, head: bool = False) -> EmulatorResponse: ...


class Inputs(Protocol):
    """The server's input fetcher (:class:`.inputs.InputFetcher`)."""

    async def fetch(self, url: str) -> bytes: ...

    async def fetch_many(self, urls: Iterable[str]) -> dict[str, bytes | InputError]: ...


class Counters(Protocol):
    """The server's counters (:class:`.log.Stats`)."""

    def add(self, provider: str, key: str, n: int = 1) -> None: ...

    def get(self, key: str, provider: str | None = None) -> int: ...

    def snapshot(self) -> dict[str, Any]: ...


class FaultDraws(Protocol):
    """The server's fault plan at work (:class:`.faults.FaultInjector`)."""

    def download(self, provider: str) -> str | None: ...


class Host(Protocol):
    """What an app (or a plugin's ``install``) may use of the server hosting it."""

    @property
    def root(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def latency(self) -> float: ...

    @property
    def capacity(self) -> int: ...

    @property
    def plain_images(self) -> bool: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def files(self) -> Files: ...

    @property
    def inputs(self) -> Inputs: ...

    @property
    def stats(self) -> Counters: ...

    @property
    def faults(self) -> FaultDraws: ...

    def is_own_host(self, hostname: str | None) -> bool: ...

    def utcnow(self) -> datetime: ...

    def released(self) -> Awaitable[None]: ...

    # ``app`` is an :class:`.app.EmulatorApp`; naming it here would import the app module,
    # which names this protocol.
    def mount(self, prefix: str, app: Any) -> Any: ...
