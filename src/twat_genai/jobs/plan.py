"""Before anything is paid for: every job of a run checked (catalog refusals, retirements),
shown as the exact arguments it would send (``--dry-run``), and priced against ``--budget``.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twat_genai.core.errors import UsageError
from twat_genai.jobs.cost import Estimate, estimate
from twat_genai.jobs.generate import adapt_request

if TYPE_CHECKING:
    from twat_genai.core.models import Request
    from twat_genai.providers.base import Provider


@dataclass
class Planned:
    """One job as it would run: its provider, model, wire arguments and price."""

    index: int
    label: str
    provider: str
    model: str
    preview: dict[str, Any]
    cost: Estimate
    warnings: list[str]

    def record(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "prompt": self.label,
            "provider": self.provider,
            "model": self.model,
            **self.preview,
            "cost": self.cost.record(),
            "warnings": self.warnings,
        }


def plan(
    jobs: Iterable[tuple[Provider, Request, str]], *, allow_retired: bool = False
) -> list[Planned]:
    """Check every job (raising the first refusal) and describe what it would send."""
    return [
        plan_one(provider, request, label, index, allow_retired=allow_retired)
        for index, (provider, request, label) in enumerate(jobs)
    ]


def plan_one(
    provider: Provider, request: Request, label: str, index: int, *, allow_retired: bool = False
) -> Planned:
    """Check one job (raising its refusal) and describe what it would send."""
    adapted, info, warnings = adapt_request(provider, request, allow_retired=allow_retired)
    return Planned(
        index=index,
        label=label,
        provider=provider.name,
        model=info.id,
        preview=provider.preview(adapted),
        cost=estimate(info, adapted),
        warnings=warnings,
    )


def total(planned: list[Planned]) -> tuple[float, list[Planned]]:
    """The known total and the jobs whose price is unknown."""
    known = sum(p.cost.usd for p in planned if p.cost.usd is not None)
    return known, [p for p in planned if p.cost.usd is None]


def total_line(planned: list[Planned]) -> str:
    """``320 items; estimated cost $19.20`` (and how many prices are unknown)."""
    return f"{len(planned)} items; {estimate_text(planned)}"


def estimate_text(planned: list[Planned]) -> str:
    """``estimated cost $19.20`` (and how many prices are unknown, of which models)."""
    return Prices.of(planned).text()


def check_budget(planned: list[Planned], budget: float) -> None:
    """Refuse a run whose estimate exceeds ``budget``; an unknown price exceeds any budget."""
    Prices.of(planned).check(budget)


class Prices:
    """A run's estimate gathered job by job, keeping no plans: the known total, the jobs whose
    price is unknown (by model), and each job's price (8 bytes) for :class:`Budget`."""

    def __init__(self) -> None:
        self._usd = array("d")  # NaN: unknown
        self.known = 0.0
        #: Models priced unknown, in the order met, with how many jobs use each.
        self.unknown: dict[str, int] = {}

    @classmethod
    def of(cls, planned: Iterable[Planned]) -> Prices:
        prices = cls()
        for entry in planned:
            prices.add(entry)
        return prices

    def add(self, entry: Planned) -> None:
        usd = entry.cost.usd
        if usd is None:
            self.unknown[entry.model] = self.unknown.get(entry.model, 0) + 1
            self._usd.append(math.nan)
        else:
            self.known += usd
            self._usd.append(usd)

    def usd(self, index: int) -> float | None:
        """The price of the job at ``index`` (None: unknown)."""
        usd = self._usd[index]
        return None if math.isnan(usd) else usd

    def text(self) -> str:
        """``estimated cost $19.20`` (and how many prices are unknown, of which models)."""
        line = f"estimated cost ${self.known:.2f}"
        if self.unknown:
            count, models = sum(self.unknown.values()), ", ".join(sorted(self.unknown))
            line += f" plus {count} at an unknown price ({models})"
        return line

    def check(self, budget: float) -> None:
        """Refuse a run whose estimate exceeds ``budget``; an unknown price exceeds any
        budget."""
        if self.unknown:
            model = next(iter(self.unknown))
            raise UsageError(
                f"--budget ${budget:g}: the price of {model} is unknown, so the run could cost "
                "more; drop --budget to run it anyway"
            )
        if self.known > budget:
            raise UsageError(
                f"estimated cost ${self.known:.2f} exceeds --budget ${budget:.2f}: "
                "run fewer items or raise the budget"
            )


class Budget:
    """The spend so far during a run: an item starts only while its estimate still fits."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0

    def take(self, usd: float | None) -> None:
        """Count a job's estimated price (None: unknown) against the limit, or refuse it."""
        if self.limit is None:
            return
        price = usd if usd is not None else math.inf
        if self.spent + price > self.limit + 1e-9:
            raise BudgetReached(
                f"not started: the budget ${self.limit:.2f} is spent "
                f"(${self.spent:.2f} estimated so far)"
            )
        self.spent += price


class BudgetReached(UsageError):
    """The run's budget would be exceeded by the next item."""


__all__ = [
    "Budget",
    "BudgetReached",
    "Planned",
    "Prices",
    "check_budget",
    "plan",
    "plan_one",
    "total",
    "total_line",
]
