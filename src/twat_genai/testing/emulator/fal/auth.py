"""fal's request gate: the key check and the JSON body every queue, run and storage call reads."""

from __future__ import annotations

from typing import Any

from ..http import EmulatorRequest, EmulatorResponse, json_response
from .errors import validation_error


def authorized(req: EmulatorRequest) -> bool:
    """``Authorization: Key <id:secret>`` (fal_client) or a ``Bearer`` token (``fal auth login``)."""
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    return scheme.lower() in {"key", "bearer"} and bool(token.strip())


def unauthorized() -> EmulatorResponse:
    """fal's 401 body."""
    return json_response({"detail": "No user found for Key ID and Secret"}, 401)


def parse_args(req: EmulatorRequest) -> dict[str, Any] | EmulatorResponse:
    """The body as a JSON object, else the error response to send."""
    try:
        args = req.json() if req.body else {}
    except ValueError:
        return json_response({"detail": "Invalid JSON body"}, 400)
    if not isinstance(args, dict):
        err = validation_error("__root__", "Input should be a valid dictionary", "dict_type")
        return json_response(err.body, 422)
    return args
