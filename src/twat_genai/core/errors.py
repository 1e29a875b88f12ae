"""Every error twat-genai raises on purpose.

    TwatGenAiError
    ├── UsageError                 the caller's mistake; fix the input (CLI exit code 2)
    │   └── MissingKeyError        no API key for the chosen provider
    └── ProviderError              a provider call did not produce a result (CLI exit code 1)
        ├── AuthenticationError    401/403: the key is wrong or the account is locked
        ├── RateLimitError         429: too many requests; ``retry_after`` when the provider said
        ├── BlockedError           the provider's safety system refused the prompt or the output
        ├── ModelError             the model rejected the input (4xx validation, or a failed job)
        ├── ServiceUnavailableError 5xx / cold start: usually worth a retry
        ├── ProviderTimeoutError   no answer within the deadline
        ├── ProviderConnectionError the host could not be reached
        ├── CancelledJobError      the job was cancelled before it finished
        ├── AnswerLostError        a paid call was sent but its answer never came back
        └── DownloadError          the result exists but its file could not be fetched

Messages are one line, name what failed and, where there is one, the fix. They never carry a
secret: :func:`twat_genai.core.redact.redact` runs over every message built from a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class TwatGenAiError(Exception):
    """Base class of all twat-genai errors."""

    exit_code = 1


class UsageError(TwatGenAiError, ValueError):
    """Bad input from the caller: a wrong flag, size, prompt, file or missing setting."""

    exit_code = 2


class MissingKeyError(UsageError):
    """The provider needs an API key that is not set."""

    def __init__(self, provider: str, names: tuple[str, ...]) -> None:
        self.provider = provider
        self.names = names
        alt = " or ".join(names)
        super().__init__(
            f"{provider}: no API key found - set {alt} in the environment or in ./.env "
            "(or run with --sandbox to use the built-in emulator)"
        )


class ProviderError(TwatGenAiError):
    """A provider call failed. ``retryable`` tells the core whether trying again may help."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        from twat_genai.core.redact import redact

        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.error_type = error_type
        self.body = body
        self.retry_after = retry_after
        #: What the core warned about the request that failed (set by the core, not the caller).
        self.warnings: list[str] = []
        if retryable is not None:
            self.retryable = retryable
        prefix = f"{provider}: " if provider and not message.startswith(f"{provider}:") else ""
        super().__init__(redact(prefix + " ".join(message.split())))

    @property
    def message(self) -> str:
        return str(self)


class AuthenticationError(ProviderError):
    """The provider refused the key (401) or the account (403)."""


class RateLimitError(ProviderError):
    """The provider asked us to slow down (429)."""

    retryable = True


class BlockedError(ProviderError):
    """The provider's safety system refused the request or its output."""

    def __init__(self, message: str, *, reason: str | None = None, **kw: Any) -> None:
        self.reason = reason
        super().__init__(message, **kw)


class ModelError(ProviderError):
    """The model rejected the input, or the job failed on the provider's side."""


class ServiceUnavailableError(ProviderError):
    """A 5xx answer or a cold start; usually temporary."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The provider's host could not be reached."""

    retryable = True


class CancelledJobError(ProviderError):
    """The job was cancelled (by the user, a deadline, or the provider)."""


class AnswerLostError(ProviderError):
    """A call that may have started a billable job was sent, and its answer was lost (the
    connection broke or went silent after the request left). Sending it again may pay twice, so
    nothing does unless the caller opts in (``--retry-lost``)."""

    def __init__(self, cause: str, **kw: Any) -> None:
        super().__init__(f"answer lost after submit (the job may have been billed): {cause}", **kw)


class DownloadError(ProviderError):
    """A result file could not be downloaded; nothing was written for it."""

    retryable = True


def validated(
    model: type[T], data: Mapping[str, Any], *, names: Mapping[str, str] | None = None
) -> T:
    """Build a pydantic model from keyword data; a validation error becomes one
    :class:`UsageError` line naming the field (as the caller called it: ``names`` maps model
    fields to the caller's names, e.g. ``{"n": "num_images"}``), with the pydantic error chained
    as its cause."""
    from pydantic import ValidationError

    try:
        return model(**data)
    except ValidationError as exc:
        raise usage_error(exc, names=names) from exc


def validated_value(model: type[M], value: Any, *, what: str = "") -> M:
    """:func:`validated` for ``model.model_validate(value)`` (a value that is not keywords);
    ``what`` names the value when the error is about the whole of it."""
    from pydantic import ValidationError

    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise usage_error(exc, what=what) from exc


def usage_error(
    exc: Exception, *, what: str = "", names: Mapping[str, str] | None = None
) -> UsageError:
    """One :class:`UsageError` line for a pydantic ``ValidationError``: the first problem, the
    field it is in, the value given, and how many more there are. A validator that raised a
    :class:`UsageError` already wrote its line: that line is kept as it is."""
    errors: list[Any] = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return UsageError(" ".join(str(exc).split()))
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    inner = (first.get("ctx") or {}).get("error")
    if isinstance(inner, UsageError):
        return UsageError(f"{inner}{more}")
    loc = [str(x) for x in first.get("loc", ())]
    if loc and names:
        loc[0] = names.get(loc[0], loc[0])
    where = ".".join(loc) or what or "value"
    message = str(first.get("msg", "")).removeprefix("Value error, ")
    given = first.get("input")
    shown = ""
    if given is None or isinstance(given, (bool, int, float, str)):
        text = repr(given)
        shown = f" (got {text if len(text) <= 40 else text[:37] + '...'})"
    return UsageError(" ".join(f"invalid {where}: {message}{shown}{more}".split()))
