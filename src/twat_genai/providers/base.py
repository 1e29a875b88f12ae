"""The provider interface: one class per provider, one ``generate`` method.

A provider turns a neutral request (:mod:`twat_genai.core.models`) into wire calls and returns a
:class:`~twat_genai.core.models.ProviderResponse` whose files carry bytes or URLs. It does not
save files, write metadata, split ``n`` or decide what to warn about: the core does that once,
for every provider (:mod:`twat_genai.jobs.generate`). Retries and rate limits live in the
transport (:class:`~twat_genai.transport.http.HttpClient`).

What a model honours comes from the model catalog (:mod:`twat_genai.providers.catalog`): each
provider ships a ``models.toml`` beside its module. ``Capabilities`` are the provider's defaults
for a model id the catalog does not hold. A request setting the model cannot honour is dropped
with a warning recorded in the sidecar (never silently).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from twat_genai.core.errors import MissingKeyError
from twat_genai.core.models import ProviderResponse, Request
from twat_genai.core.redact import register_secret
from twat_genai.providers.catalog import SizeSpec

if TYPE_CHECKING:
    from twat_genai.providers.catalog import ModelInfo
from twat_genai.core.settings import first_env, resolve_base_url
from twat_genai.transport.http import ErrorInfo, HttpClient, default_error_info


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do. Request fields a provider cannot honour become warnings."""

    #: Request kinds it takes: "image", "edit", "video", "background_removal".
    kinds: frozenset[str]
    #: Values of ``ImageEditRequest.operation`` it takes.
    operations: frozenset[str] = frozenset()
    #: Images one call can return for a model the catalog does not hold.
    max_images_per_call: int = 1


#: Keys that place a recorded handle within one item: the split ``part`` and the ``stage``.
_PLACE = ("part", "stage")


def handle_for(recorded: list[dict[str, Any]], place: dict[str, Any]) -> dict[str, Any] | None:
    """The one recorded handle at ``place`` (its ``part``/``stage``); None if none or several."""
    found = [h for h in recorded if all(h.get(k) == place.get(k) for k in _PLACE)]
    return found[0] if len(found) == 1 else None


@dataclass
class CallContext:
    """Per-call hooks the core gives a provider.

    ``on_submitted`` receives a resumable handle (JSON-able) as soon as a billable job exists,
    so the journal can re-attach after a crash. ``recorded`` holds every handle an earlier run
    recorded for this item, each marked with where it belongs (``part`` of a split request,
    ``stage`` of a multi-job operation); ``resume`` is the one for this call, if any.
    """

    on_submitted: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None
    resume: dict[str, Any] | None = None
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    deadline: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Output files an interrupted attempt at this job already named (file key -> path).
    files: dict[str, str] = field(default_factory=dict)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    #: Where this call sits in its item (``part``, ``stage``): added to every handle it records.
    place: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def reattaching(cls, recorded: list[dict[str, Any]], **hooks: Any) -> CallContext:
        """The context of an item whose earlier run recorded ``recorded``."""
        return cls(resume=handle_for(recorded, {}), recorded=list(recorded), **hooks)

    async def submitted(self, handle: dict[str, Any]) -> None:
        if self.on_submitted is not None:
            result = self.on_submitted({**handle, **self.place})
            if result is not None:
                await result

    def event(self, name: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(name, data)

    def _at(
        self, on_event: Callable[[str, dict[str, Any]], None] | None, **place: Any
    ) -> CallContext:
        where = {**self.place, **place}
        return CallContext(
            on_submitted=self.on_submitted,
            resume=handle_for(self.recorded, where),
            on_event=on_event,
            deadline=self.deadline,
            extra=self.extra,
            files=self.files,
            recorded=self.recorded,
            place=where,
        )

    def stage(self, name: str) -> CallContext:
        """The context of a further job of the same call (a GenFill pass after an expand): its
        handle is recorded under ``stage`` and re-attached from there."""
        return self._at(self.on_event, stage=name)

    def split(self, count: int) -> list[CallContext]:
        """Contexts for the ``count`` calls one request was split into (``n`` above the
        provider's maximum). Each records its ``part`` in its handles and re-attaches to its own
        part's job; ``remote_done`` reaches this context once, when every part has sent it."""
        if count <= 1:
            return [self]
        finished: set[int] = set()

        def for_part(i: int) -> CallContext:
            def event(name: str, data: dict[str, Any]) -> None:
                if name == "remote_done":
                    finished.add(i)
                    if len(finished) < count:
                        return
                self.event(name, **data)

            return self._at(event, part=i)

        return [for_part(i) for i in range(count)]


class Provider(ABC):
    """Base class: key and base-URL resolution, the HTTP client, the model catalog and the
    ``generate`` contract."""

    name: ClassVar[str]
    #: Environment variables that may hold the key, in order of preference (none: no key needed).
    key_env: ClassVar[tuple[str, ...]] = ()
    #: The provider's catalog, a file beside its module (None: no entries).
    catalog_file: ClassVar[str | None] = "models.toml"
    #: Model ids these patterns match belong to this provider even when no catalog entry has them.
    model_patterns: ClassVar[tuple[str, ...]] = ()
    #: The model used when a request names none.
    default_model: ClassVar[str | None] = None
    #: For a model the catalog does not hold: neutral field -> wire name, the size form and
    #: where input images go (what most of the provider's models take).
    default_map: ClassVar[dict[str, str]] = {}
    default_size: ClassVar[SizeSpec] = SizeSpec()
    default_inputs: ClassVar[dict[str, str]] = {}
    #: Environment variables that may hold the base URL, in order of preference.
    base_url_env: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]
    #: Jobs run at once by default (the batch runner's per-provider limit).
    default_concurrency: ClassVar[int] = 4
    #: Jobs beyond what the account runs at once wait in the provider's own queue, free until
    #: they start (fal): a batch keeps a few more submitted than it runs (see
    #: :func:`twat_genai.jobs.runner.queued_ahead`).
    queues: ClassVar[bool] = False
    #: What the provider is for, one line (``list-providers``).
    summary: ClassVar[str] = ""
    #: Seconds an API call may take when the caller sets no timeout (None: the client's own).
    default_timeout: ClassVar[float | None] = None
    #: Other hosts speak this provider's protocol and serve models of their own (OpenAI-
    #: compatible proxies): there the catalog's retirements only warn.
    compatible_hosts: ClassVar[bool] = False
    #: Response headers that carry the provider's request id (error messages name it).
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id",)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        transport: Any = None,
        http: HttpClient | None = None,
        timeout: float | None = None,
    ) -> None:
        self.api_key = api_key or first_env(self.key_env)
        if self.key_env and not self.api_key:
            raise MissingKeyError(self.name, self.key_env)
        register_secret(self.api_key)
        self.base_url = resolve_base_url(base_url, self.base_url_env, self.default_base_url)
        self.http = http or self.make_http(transport=transport, timeout=timeout)
        # Downloads and remote inputs go to hosts other than the API: never with the key.
        self.fetcher = HttpClient(f"{self.name}", transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @classmethod
    def catalog_entries(cls) -> list[ModelInfo]:
        """The models this provider ships: its :attr:`catalog_file`, read from the package that
        holds the provider's module. Override to build entries in code."""
        if cls.catalog_file is None:
            return []
        from twat_genai.providers.catalog import provider_entries

        module = cls.__module__
        package = module if _is_package(module) else module.rpartition(".")[0]
        return provider_entries(cls.name, package, cls.catalog_file)

    @classmethod
    def default_model_for(cls, request: Request) -> str | None:
        """The model a request that names none runs on (per kind where it differs)."""
        return cls.default_model

    @classmethod
    def model_info(cls, model_id: str | None) -> ModelInfo:
        """The catalog entry of ``model_id`` (the default model when None); for an id the
        catalog does not hold, an entry made from :attr:`capabilities` with ``known=False``."""
        from twat_genai.providers.catalog import ModelInfo, model_entry

        model = model_id or cls.default_model or ""
        entry = model_entry(cls, model)
        if entry is not None:
            return entry
        return ModelInfo(
            id=model,
            provider=cls.name,
            kind="edit" if cls.default_inputs else "text-to-image",
            max_images=cls.capabilities.max_images_per_call,
            map=cls.default_map,
            size=cls.default_size,
            inputs=cls.default_inputs,
            known=False,
        )

    def official_host(self) -> bool:
        """Whether the base URL is the provider's own service (its catalog facts apply): always
        for a provider without compatible hosts; else its default URL, or a host declared as
        its stand-in with ``TWAT_GENAI_<NAME>_OFFICIAL=1`` (the emulator does)."""
        import os

        if not self.compatible_hosts or self.base_url == self.default_base_url.rstrip("/"):
            return True
        return os.environ.get(f"TWAT_GENAI_{self.name.upper()}_OFFICIAL") == "1"

    def auth_headers(self) -> dict[str, str]:
        """Headers that carry the key on every API call (none by default)."""
        return {}

    def error_info(self, status: int, body: Any, text: str) -> ErrorInfo:
        """The provider's error envelope (message, type, blocked) of a failed answer."""
        return default_error_info(status, body, text)

    def make_http(self, *, transport: Any, timeout: float | None) -> HttpClient:
        """The provider's API client: its base URL, auth headers and error envelope."""
        return HttpClient(
            self.name,
            base_url=self.base_url,
            headers=self.auth_headers(),
            transport=transport,
            timeout=timeout or self.default_timeout,
            error_parser=self.error_info,
            request_id_headers=self.request_id_headers,
        )

    def preview(self, request: Request) -> dict[str, Any]:
        """What a call would send, without sending, uploading or reading anything remote (for
        ``--dry-run``); providers show their exact wire arguments."""
        return {
            "endpoint": request.model,
            "request": request.model_dump(mode="json", exclude_none=True),
        }

    @abstractmethod
    async def generate(self, request: Request, ctx: CallContext) -> ProviderResponse:
        """Run one request on the provider and return its outputs (not yet saved)."""

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.fetcher.aclose()

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def request_kind(request: Request) -> str:
    """The capability name of a request: image, edit, video or background_removal."""
    from twat_genai.core.models import (
        BackgroundRemovalRequest,
        ImageEditRequest,
        VideoGenerationRequest,
    )

    if isinstance(request, ImageEditRequest):
        return "edit"
    if isinstance(request, VideoGenerationRequest):
        return "video"
    if isinstance(request, BackgroundRemovalRequest):
        return "background_removal"
    return "image"


def _is_package(module: str) -> bool:
    import sys

    mod = sys.modules.get(module)
    return mod is not None and hasattr(mod, "__path__")
