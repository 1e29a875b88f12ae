"""Before anything is paid for: every job of a run checked (catalog refusals, retirements),
shown as the exact arguments it would send (``--dry-run``), and priced against ``--budget``.
"""

from __future__ import annotations

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
    jobs: list[tuple[Provider, Request, str]], *, allow_retired: bool = False
) -> list[Planned]:
    """Check every job (raising the first refusal) and describe what it would send."""
    planned = []
    for index, (provider, request, label) in enumerate(jobs):
        adapted, info, warnings = adapt_request(provider, request, allow_retired=allow_retired)
        planned.append(
            Planned(
                index=index,
                label=label,
                provider=provider.name,
                model=info.id,
                preview=provider.preview(adapted),
                cost=estimate(info, adapted),
                warnings=warnings,
            )
        )
    return planned


def total(planned: list[Planned]) -> tuple[float, list[Planned]]:
    """The known total and the jobs whose price is unknown."""
    known = sum(p.cost.usd for p in planned if p.cost.usd is not None)
    return known, [p for p in planned if p.cost.usd is None]


def total_line(planned: list[Planned]) -> str:
    """``320 items; estimated cost $19.20`` (and how many prices are unknown)."""
    return f"{len(planned)} items; {estimate_text(planned)}"


def estimate_text(planned: list[Planned]) -> str:
    """``estimated cost $19.20`` (and how many prices are unknown, of which models)."""
    known, unknown = total(planned)
    line = f"estimated cost ${known:.2f}"
    if unknown:
        models = sorted({p.model for p in unknown})
        line += f" plus {len(unknown)} at an unknown price ({', '.join(models)})"
    return line


def check_budget(planned: list[Planned], budget: float) -> None:
    """Refuse a run whose estimate exceeds ``budget``; an unknown price exceeds any budget."""
    known, unknown = total(planned)
    if unknown:
        model = unknown[0].model
        raise UsageError(
            f"--budget ${budget:g}: the price of {model} is unknown, so the run could cost "
            "more; drop --budget to run it anyway"
        )
    if known > budget:
        raise UsageError(
            f"estimated cost ${known:.2f} exceeds --budget ${budget:.2f}: "
            "run fewer items or raise the budget"
        )


class Budget:
    """The spend so far during a run: an item starts only while its estimate still fits."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0

    def take(self, cost: Estimate) -> None:
        if self.limit is None:
            return
        price = cost.usd if cost.usd is not None else float("inf")
        if self.spent + price > self.limit + 1e-9:
            raise BudgetReached(
                f"not started: the budget ${self.limit:.2f} is spent "
                f"(${self.spent:.2f} estimated so far)"
            )
        self.spent += price


class BudgetReached(UsageError):
    """The run's budget would be exceeded by the next item."""


__all__ = ["Budget", "BudgetReached", "Planned", "check_budget", "plan", "total", "total_line"]
