"""fal's error shapes: model errors (a ``detail`` list, usually 422) and request errors
(``detail`` string + ``error_type``), both replayed by the result call (PROTOCOLS §1.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_ERROR_TYPES = {
    400: ("Bad request", "bad_request"),
    401: ("No user found for Key ID and Secret", None),
    403: ("User is locked. Reason: Exhausted balance.", None),
    404: ("Not Found", None),
    408: ("Request timed out", "request_timeout"),
    429: ("Too many requests", None),
    499: ("Client cancelled the request", "client_cancelled"),
    500: ("Internal server error", "runner_server_error"),
    502: ("Runner returned an incomplete response", "runner_incomplete_response"),
    503: ("Runner disconnected", "runner_disconnected"),
    504: ("Request timed out", "request_timeout"),
}


class FalModelError(Exception):
    """What the model answered instead of an output (reported on the result call)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.headers = status, body, headers or {}


def detail_item(
    field_name: str, msg: str, type_: str, value: Any = None, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One entry of fal's (pydantic-style) ``detail`` list."""
    item: dict[str, Any] = {
        "loc": ["body", field_name],
        "msg": msg,
        "type": type_,
        "url": f"https://docs.fal.ai/errors/#{type_}",
        "input": value,
    }
    if ctx:
        item["ctx"] = ctx
    return item


def validation_error(
    field_name: str,
    msg: str,
    type_: str,
    value: Any = None,
    *,
    status: int = 422,
    ctx: dict[str, Any] | None = None,
) -> FalModelError:
    """A 422 in fal's ``detail`` list shape, with one entry."""
    return FalModelError(status, {"detail": [detail_item(field_name, msg, type_, value, ctx)]})


def error_for_code(code: int, prompt: Any = None) -> FalModelError:
    """The model/infrastructure error fal would report with HTTP ``code``."""
    if code == 422:
        return validation_error("prompt", "Emulated model error", "value_error", prompt)
    message, error_type = _ERROR_TYPES.get(code, (f"Emulated error {code}", None))
    body: dict[str, Any] = {"detail": message}
    headers: dict[str, str] = {}
    if error_type:
        body["error_type"] = error_type
        headers["x-fal-error-type"] = error_type
    return FalModelError(code, body, headers)


@dataclass
class Outcome:
    """The status, body and headers the result call replays."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # for COMPLETED statuses of failed jobs
    error_type: str | None = None

    @classmethod
    def of(cls, exc: FalModelError) -> Outcome:
        """The outcome of a model error (5xx ones also mark the COMPLETED status)."""
        outcome = cls(exc.status, exc.body, exc.headers)
        if exc.status >= 500 and isinstance(exc.body, dict):
            outcome.error = str(exc.body.get("detail"))
            outcome.error_type = exc.body.get("error_type")
        return outcome
