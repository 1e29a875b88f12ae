"""Fault injection: the network and the providers misbehaving at set rates, reproducibly.

A plan is written ``[PROVIDER:]KIND=RATE[,KIND=RATE...][;...]`` with an optional ``seed=N``
(``--faults``, ``running_emulator(faults=...)``, ``POST /_emulator/faults``), for example
``429=0.2,5xx=0.05,reset=0.02,seed=7`` (every provider) or ``fal:429=0.2;openai:5xx=0.1``
(per provider; ``provider=NAME`` inside a group means the same as the ``NAME:`` prefix). A
provider's own rate for a kind replaces the all-provider rate for that kind. Rates are
fractions (``0.2``) or percentages (``20%``).

Each kind strikes at a point where what it proves is decidable, so a client's rule for paid
calls ("retry only when no job can exist") can be tested:

- ``429``, ``5xx``, ``reset`` strike at the provider's ingress, **before** a job exists, in the
  provider's own shape (each app's ``fault_response``): fal's 429, or its nginx 502/504 page
  without ``x-fal-request-id``; Chutes' 429 ``infra_overload`` and 503 ``No instances
  available``; OpenAI's 429 (``retry-after-ms``) and 503; Google's 429 ``RESOURCE_EXHAUSTED``
  (``RetryInfo``) and 503 ``UNAVAILABLE``. ``reset`` closes the connection with a TCP reset
  before the app sees the request; on a call that creates a job (a submit, a synchronous
  generation) the reset happens behind the ingress, which answers as it does when its
  connection to the provider failed before forwarding (the provider's 502/503 shape, no
  request id): a client cannot tell a TCP reset there from a lost answer, so only the
  ingress's word makes "no job exists" decidable. All of them apply to every API call (submits, polls,
  results, uploads), never to file downloads.
- ``reset_after`` resets the connection **after** the job was created (a fal submit queued and
  running, a synchronous generation run and counted): the answer is lost, the job is not.
- ``truncate`` cuts a file download short (the full Content-Length promised, half the bytes
  sent, then the connection closed); ``drip`` sends a download :data:`DRIP_BYTES` bytes every
  :data:`DRIP_INTERVAL` seconds. Both apply to files served for download (fal CDN files,
  OpenAI ``url`` results, stored files), never to a generation's own response.

Draws are a hash of ``(seed, provider, point, n)`` for the ``n``-th request of a provider at
a point (ingress, after, download): the same sequence of requests meets the same faults, and
``POST /_emulator/reset`` starts the sequence again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

#: Fault kinds by the point where they strike.
INGRESS_KINDS = ("429", "5xx", "reset")
AFTER_KINDS = ("reset_after",)
DOWNLOAD_KINDS = ("truncate", "drip")
KINDS = INGRESS_KINDS + AFTER_KINDS + DOWNLOAD_KINDS
#: The rate group that applies to every provider.
ALL = "*"

#: A dripping download sends this many bytes per :data:`DRIP_INTERVAL` seconds.
DRIP_BYTES = 16
DRIP_INTERVAL = 1.0
#: Injected waits (Retry-After, retry-after-ms, RetryInfo) are this short, in seconds.
INJECTED_WAIT = 0.02


class FaultSpecError(ValueError):
    """A fault plan that cannot be read (the message says what and why)."""


def _rate(text: str, where: str) -> float:
    value = text.strip()
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise FaultSpecError(f"{where}: {text!r} is not a rate (0..1 or a percentage)") from None
    if not 0.0 <= rate <= 1.0:
        raise FaultSpecError(f"{where}: rate {text!r} is outside 0..1")
    return rate


def _group(text: str) -> tuple[str, list[tuple[str, str]]]:
    """One ``;``-separated group: its provider (``"*"`` when none) and its ``key=value``s."""
    head, colon, rest = text.partition(":")
    provider, body = (head.strip(), rest) if colon and "=" not in head else (ALL, text)
    items: list[tuple[str, str]] = []
    for item in body.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise FaultSpecError(f"{item.strip()!r}: expected KIND=RATE")
        if key.strip().lower() == "provider":
            provider = value.strip()
        else:
            items.append((key.strip().lower(), value.strip()))
    return provider or ALL, items


@dataclass(frozen=True)
class FaultPlan:
    """Rates per provider (``"*"`` for all) and kind, and the seed of the draws."""

    rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Read ``[PROVIDER:]KIND=RATE,...;...`` (see the module docstring)."""
        rates: dict[str, dict[str, float]] = {}
        seed = 0
        for text in (spec or "").split(";"):
            provider, items = _group(text)
            for key, value in items:
                if key == "seed":
                    try:
                        seed = int(value)
                    except ValueError:
                        raise FaultSpecError(f"seed={value!r} is not an integer") from None
                elif key in KINDS:
                    rates.setdefault(provider, {})[key] = _rate(value, key)
                else:
                    raise FaultSpecError(f"unknown fault kind {key!r}; kinds: {', '.join(KINDS)}")
        return cls(rates, seed)

    def rate(self, provider: str, kind: str) -> float:
        """The rate of ``kind`` for ``provider`` (its own, else the all-provider one)."""
        own = self.rates.get(provider)
        if own is not None and kind in own:
            return own[kind]
        return self.rates.get(ALL, {}).get(kind, 0.0)

    def providers(self) -> set[str]:
        """Provider names the plan mentions (not ``"*"``)."""
        return {p for p in self.rates if p != ALL}

    def __str__(self) -> str:
        groups = []
        for provider in sorted(self.rates, key=lambda p: (p != ALL, p)):
            items = ",".join(f"{k}={v:g}" for k, v in sorted(self.rates[provider].items()))
            groups.append(items if provider == ALL else f"{provider}:{items}")
        if self.seed:
            groups.append(f"seed={self.seed}")
        return ";".join(groups)

    def __bool__(self) -> bool:
        return any(v > 0 for kinds in self.rates.values() for v in kinds.values())


class FaultInjector:
    """Draws faults for one server from its :class:`FaultPlan` (see the module docstring)."""

    def __init__(self, plan: FaultPlan | str | None = None) -> None:
        self.plan = plan if isinstance(plan, FaultPlan) else FaultPlan.parse(plan)
        self._counts: dict[tuple[str, str], int] = {}

    def _draw(self, provider: str, point: str, kinds: Iterable[str]) -> str | None:
        """One deterministic draw among ``kinds`` (they share it, so each strikes exactly at
        its rate), or ``None``."""
        rates = [(k, self.plan.rate(provider, k)) for k in kinds]
        if not any(r > 0 for _, r in rates):
            return None
        n = self._counts.get((provider, point), 0)
        self._counts[(provider, point)] = n + 1
        text = f"{self.plan.seed}|{provider}|{point}|{n}".encode()
        u = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2**64
        edge = 0.0
        for kind, rate in rates:
            edge += rate
            if u < edge:
                return kind
        return None

    def ingress(self, provider: str) -> str | None:
        """``429``, ``5xx``, ``reset`` or ``None`` for an API call reaching ``provider``."""
        return self._draw(provider, "ingress", INGRESS_KINDS) if self.plan else None

    def after(self, provider: str) -> bool:
        """Whether the answer of a call that created a job is lost (``reset_after``)."""
        return bool(self.plan) and self._draw(provider, "after", AFTER_KINDS) is not None

    def download(self, provider: str) -> str | None:
        """``truncate``, ``drip`` or ``None`` for a download of a file ``provider`` made."""
        return self._draw(provider, "download", DOWNLOAD_KINDS) if self.plan else None

    def restart(self) -> None:
        """Start every sequence again (the same requests meet the same faults)."""
        self._counts.clear()


async def drip(
    data: bytes, size: int = DRIP_BYTES, interval: float = DRIP_INTERVAL
) -> AsyncIterator[bytes]:
    """``data`` a few bytes at a time (a download for deadline tests)."""
    for start in range(0, len(data), size):
        if start:
            await asyncio.sleep(interval)
        yield data[start : start + size]


async def cut(data: bytes) -> AsyncIterator[bytes]:
    """The first half of ``data``: sent under the full Content-Length, then the connection
    closes (a truncated download)."""
    yield data[: len(data) // 2]
