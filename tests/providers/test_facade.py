"""``ProviderFacade`` and ``sync_twin``: the sync twins keep their async twin's parameters and
run it on a fresh loop, closing the client afterwards."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, cast

import pytest

from twat_genai import ChutesClient, GeminiImageClient, OpenAIImageClient
from twat_genai.clients.facade import ProviderFacade, sync_twin


class FakeProvider:
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


class Facade(ProviderFacade):
    def __init__(self) -> None:
        self.fake = FakeProvider()
        self.provider = cast(Any, self.fake)

    def _sync_client(self) -> Facade:
        return self  # built by hand, not from settings: each sync call runs on this one

    async def aecho(self, word: str, *, times: int = 1) -> str:
        """Async echo."""
        await asyncio.sleep(0)
        if times < 1:
            raise ValueError("times must be positive")
        return " ".join([word] * times)

    echo = sync_twin(aecho)


def test_sync_twin_runs_the_async_method_and_closes_the_provider() -> None:
    facade = Facade()
    assert facade.echo("hi", times=2) == "hi hi"
    assert facade.fake.closed == 1
    with pytest.raises(ValueError, match="positive"):
        facade.echo("hi", times=0)
    assert facade.fake.closed == 2


def test_sync_twin_works_inside_a_running_loop() -> None:
    async def cell() -> str:
        return Facade().echo("loop")

    assert asyncio.run(cell()) == "loop"


def test_sync_twin_looks_like_a_plain_method() -> None:
    assert Facade.echo.__name__ == "echo"
    assert Facade.echo.__qualname__ == "Facade.echo"
    assert Facade.echo.__doc__ == "Sync :meth:`aecho`."
    assert not inspect.iscoroutinefunction(Facade.echo)
    assert str(inspect.signature(Facade().echo)) == "(word: 'str', *, times: 'int' = 1) -> 'str'"


@pytest.mark.parametrize(
    ("cls", "pairs"),
    [
        (
            ChutesClient,
            [
                ("generate_image", "agenerate_image"),
                ("edit_image", "aedit_image"),
                ("remove_background", "aremove_background"),
                ("generate_video", "agenerate_video"),
            ],
        ),
        (OpenAIImageClient, [("generate", "agenerate"), ("edit", "aedit")]),
        (GeminiImageClient, [("generate", "agenerate"), ("transform", "atransform")]),
    ],
)
def test_public_sync_methods_keep_their_async_twins_signature(
    cls: Any, pairs: list[tuple[str, str]]
) -> None:
    for name, async_name in pairs:
        method = getattr(cls, name)
        assert method.__name__ == name
        assert method.__doc__ == f"Sync :meth:`{async_name}`."
        assert not inspect.iscoroutinefunction(method)
        assert inspect.signature(method) == inspect.signature(getattr(cls, async_name))
