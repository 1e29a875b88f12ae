"""What the provider clients (``ChutesClient``, ``OpenAIImageClient``, ``GeminiImageClient``)
share: running one request on the pipeline, closing, ``async with``, and the sync twins of their
async methods."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar

from twat_genai.core.sync import run_sync

if TYPE_CHECKING:
    from twat_genai.core.models import ProviderResponse, Request
    from twat_genai.providers.base import Provider

__all__ = ["ProviderFacade", "sync_twin"]

F = TypeVar("F", bound="ProviderFacade")
P = ParamSpec("P")
T = TypeVar("T")


class ProviderFacade:
    """Base of the facades: the key and base URL (arguments, else the environment or
    ``./.env``; a missing key fails here, before anything is written), ``aclose``/``async
    with``; sync calls run on their own event loop via :meth:`_run_sync`."""

    provider_class: ClassVar[type[Provider]]

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        output_dir: Path | str = "generated_images",
        transport: Any = None,
        **provider_options: Any,
    ) -> None:
        from twat_genai.core.settings import load_dotenv_once

        load_dotenv_once()
        self.output_dir = Path(output_dir)
        self._settings: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "transport": transport,
            **provider_options,
        }
        self.provider = self.provider_class(**self._settings)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.provider.base_url!r}, "
            f"output_dir={str(self.output_dir)!r})"
        )

    def _sync_client(self: F) -> F:
        """The client one sync call runs on and closes afterwards: a fresh one with the same
        settings (an HTTP pool belongs to one event loop)."""
        return type(self)(output_dir=self.output_dir, **self._settings)

    def _run_sync(self: F, call: Callable[[F], Awaitable[T]]) -> T:
        """``call(client)`` on a fresh event loop (:func:`run_sync`), then close the client:
        an HTTP pool belongs to the loop it was opened on and must not outlive it."""

        async def once() -> T:
            client = self._sync_client()
            try:
                return await call(client)
            finally:
                await client.aclose()

        return run_sync(once)

    async def run_request(
        self,
        request: Request,
        *,
        prefix: str | None = None,
        suffix: str | None = None,
        client: str = "",
    ) -> ProviderResponse:
        """Run one request on :attr:`provider` (not journaled: two calls make two images) and
        save its files in :attr:`output_dir`."""
        from twat_genai.jobs.pipeline import Job, RunOptions, run_one

        prompt = getattr(request, "prompt", None)
        job = Job(
            request, label=prompt or client, meta={"original_prompt": prompt, "client": client}
        )
        options = RunOptions(
            output_dir=self.output_dir, prefix=prefix, suffix=suffix, command=client
        )
        return await run_one(self.provider, job, options)

    async def aclose(self) -> None:
        await self.provider.aclose()

    async def __aenter__(self: F) -> F:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def sync_twin(method: Callable[Concatenate[F, P], Awaitable[T]]) -> Callable[Concatenate[F, P], T]:
    """The sync twin ``name`` of the async facade method ``aname``: the same parameters (for
    type checkers and :func:`inspect.signature`), run through :meth:`ProviderFacade._run_sync`."""
    name = method.__name__.removeprefix("a")

    @functools.wraps(method)
    def twin(self: F, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run_sync(lambda client: method(client, *args, **kwargs))

    twin.__name__ = name
    twin.__qualname__ = f"{method.__qualname__.rpartition('.')[0]}.{name}".lstrip(".")
    twin.__doc__ = f"Sync :meth:`{method.__name__}`."
    return twin
