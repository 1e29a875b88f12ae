"""The request log and the counters: cheap to keep, rendered only when someone reads them.

Each request appends one small entry to a bounded deque (oldest dropped first); secrets are
masked and long values shortened when the log is read (``GET /_emulator/requests``), not per
request. A JSON body larger than :data:`KEEP_BODY` is shortened at once, so the log's memory
stays bounded whatever clients send.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from twat_genai.core.redact import redact, redact_obj

from .http import EmulatorRequest

#: Stat counters every provider has (apps may add their own keys). ``submissions`` counts
#: jobs created (a fal submit or sync run queued, a synchronous generation accepted),
#: ``cancels`` the cancel calls received, ``fault_<kind>`` the faults injected (:mod:`.faults`).
STAT_KEYS: tuple[str, ...] = (
    "submissions",
    "polls",
    "results",
    "uploads",
    "downloads",
    "cancels",
    "fault_429",
    "fault_5xx",
    "fault_reset",
    "fault_reset_after",
    "fault_truncate",
    "fault_drip",
    "bytes_out",
    "bytes_in",
    "requests",
)

#: Entries the log keeps (the oldest are dropped first).
LOG_CAP = 10_000
#: JSON bodies up to this size are kept as sent and shortened when the log is read.
KEEP_BODY = 64 * 1024
#: Query parameters whose values are secrets whatever they look like.
SECRET_QUERY_NAMES = frozenset({"key", "api_key", "apikey", "token", "access_token", "fal_key"})

_LONG = 160


def shorten(value: Any) -> Any:
    """JSON-like ``value`` with data URIs and long (base64-ish) strings abbreviated."""
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 64:
            head = value.split(",", 1)[0]
            return f"{head},<{len(value)} chars>"
        if len(value) > _LONG and " " not in value[:_LONG]:
            return f"{value[:48]}…<{len(value)} chars>"
        return value
    if isinstance(value, Mapping):
        return {k: shorten(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shorten(v) for v in value]
    return value


class _Raw:
    """A JSON body kept as bytes until the log is read."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _args_of(req: EmulatorRequest) -> Any:
    """What the log shows for the body, in a form that is cheap to keep."""
    if req.args is not None:
        return req.args
    body = req.body
    if not body:
        return None
    ctype = req.content_type.lower()
    if "json" in ctype or body[:1] in {b"{", b"["}:
        if req._json is not None:
            return req._json if len(body) <= KEEP_BODY else shorten(req._json)
        if len(body) <= KEEP_BODY:
            return _Raw(body)
        try:
            return shorten(json.loads(body))
        except ValueError:
            pass
    if ctype.startswith(("multipart/", "application/x-www-form-urlencoded")):
        return req.form().summary()
    return {"bytes": len(body), "content_type": req.content_type or None}


class LogEntry:
    """One request as recorded; :meth:`render` builds the JSON-ready dict."""

    __slots__ = (
        "args",
        "endpoint",
        "fault",
        "headers",
        "ignored",
        "method",
        "note",
        "path",
        "provider",
        "query",
        "status",
    )

    def __init__(
        self, provider: str, method: str, path: str, query: dict[str, str], headers: Any
    ) -> None:
        self.provider, self.method, self.path = provider, method, path
        self.query, self.headers = query, headers
        self.endpoint: str | None = None
        self.args: Any = None
        self.note: str | None = None
        self.ignored: list[str] | None = None
        self.status: int | None = None
        self.fault: str | None = None

    def finish(self, req: EmulatorRequest | None, status: int | None) -> None:
        """Take what the app noted on ``req`` (endpoint, args, note, ignored) and the status
        (``None``: no answer, the connection was reset)."""
        self.status = status
        if req is None:
            return
        self.endpoint, self.note, self.ignored = req.endpoint, req.note, req.ignored
        try:
            self.args = _args_of(req)
        except Exception:  # a log must never break a response
            self.args = None

    def render(self) -> dict[str, Any]:
        """The entry as the control API shows it: secrets masked, long values shortened."""
        args = self.args
        try:
            if isinstance(args, _Raw):
                args = json.loads(args.data)
            args = redact_obj(shorten(args))
        except Exception:
            args = None
        out: dict[str, Any] = {
            "provider": self.provider,
            "method": self.method,
            "path": self.path,
            "query": {
                k: "***" if k.lower() in SECRET_QUERY_NAMES else redact_obj(v)
                for k, v in self.query.items()
            },
            "endpoint": self.endpoint,
            "args": args,
            "headers": self.headers.names() if hasattr(self.headers, "names") else [],
            "status": self.status,
        }
        if self.note:
            out["note"] = redact(self.note)
        if self.ignored is not None:
            out["ignored"] = list(self.ignored)
        if self.fault:
            out["fault"] = self.fault
        return out


class RequestLog:
    """The last :data:`LOG_CAP` requests."""

    def __init__(self, cap: int = LOG_CAP) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=cap)

    def append(self, entry: LogEntry) -> None:
        """Record one request (dropping the oldest when full)."""
        self._entries.append(entry)

    def render(self) -> list[dict[str, Any]]:
        """Every entry as a dict, oldest first."""
        return [e.render() for e in self._entries]

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._entries)


class Stats:
    """Counters per provider; :meth:`snapshot` adds the totals at the top level."""

    def __init__(self) -> None:
        self._by_provider: dict[str, dict[str, int]] = {}

    def add(self, provider: str, key: str, n: int = 1) -> None:
        """Add ``n`` to ``key`` for ``provider``."""
        counters = self._by_provider.get(provider)
        if counters is None:
            counters = self._by_provider[provider] = dict.fromkeys(STAT_KEYS, 0)
        counters[key] = counters.get(key, 0) + n

    def get(self, key: str, provider: str | None = None) -> int:
        """One counter, for one provider or summed over all."""
        if provider is not None:
            return self._by_provider.get(provider, {}).get(key, 0)
        return sum(c.get(key, 0) for c in self._by_provider.values())

    def snapshot(self) -> dict[str, Any]:
        """``{key: total, ..., "providers": {name: {key: n}}}``."""
        totals: dict[str, Any] = dict.fromkeys(STAT_KEYS, 0)
        for counters in self._by_provider.values():
            for k, v in counters.items():
                totals[k] = totals.get(k, 0) + v
        totals["providers"] = {p: dict(c) for p, c in self._by_provider.items()}
        return totals

    def clear(self) -> None:
        """Zero everything."""
        self._by_provider.clear()
