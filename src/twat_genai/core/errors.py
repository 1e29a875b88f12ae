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

from typing import Any, TypeVar

T = TypeVar("T")


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


def validated(model: type[T], data: dict[str, Any]) -> T:
    """Build a pydantic model; a validation error becomes one :class:`UsageError` line naming
    the field, with the pydantic error chained as its cause."""
    from pydantic import ValidationError

    try:
        return model(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "value"
        raise UsageError(f"invalid {where}: {first.get('msg')}") from exc
