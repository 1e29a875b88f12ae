"""The one execution path: every entry point (the CLI commands, ``FALEngine``, ``TwatGenAiCLI``,
the provider clients, ``twat_genai.generate``) builds neutral requests and hands them here.

A run is a sequence of :class:`Job` (a request, its label and what its sidecar records; a list,
or :class:`LazyJobs` made from compact specs when needed) plus :class:`RunOptions` (where files
go, how they are named, whether the run is journaled, how many jobs at once). :func:`run_jobs`
checks and prices every job, then turns them into batch items (:mod:`twat_genai.jobs.runner`),
each running :func:`twat_genai.jobs.generate.generate` against the provider and the writer.
Journaling is a property of the run: the CLI journals, a single library call does not, so two
identical calls make two images.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from twat_genai.core.errors import UsageError
from twat_genai.core.files import remove_stale_temps
from twat_genai.core.models import MediaFile, ProviderResponse, Request
from twat_genai.core.writer import OutputWriter, check_writable
from twat_genai.jobs.deadline import timeout_for, within
from twat_genai.jobs.generate import generate
from twat_genai.jobs.journal import Journal, UnreadableJournal, item_key
from twat_genai.jobs.plan import Budget, Planned, Prices, plan, plan_one
from twat_genai.jobs.runner import (
    PLANNED,
    EventHook,
    Item,
    Outcome,
    Summary,
    finished,
    queued_ahead,
    run_batch,
)
from twat_genai.providers.base import request_kind
from twat_genai.providers.catalog import pinned

if TYPE_CHECKING:
    from twat_genai.jobs.journal import Entry
    from twat_genai.providers.base import CallContext, Provider

DEFAULT_OUTPUT_DIR = Path("generated_images")
S = TypeVar("S")


def expand_prompts(
    prompts: str | list[str] | None, *, limit: int = 1000, required: bool = True
) -> list[str]:
    """The prompts a run makes items of, expanded by the prompt grammar (empty ones dropped);
    one empty prompt when the command needs none."""
    from twat_genai.core.prompt import expand_prompts as expand

    if not prompts:
        if required:
            raise UsageError(
                'a prompt is required: --prompts "a red car" (or as the first argument)'
            )
        return [""]
    expanded = [p for p in expand(prompts, limit=limit) if p]
    if not expanded and required:
        raise UsageError("the prompt is empty after expansion")
    return expanded or [""]


@dataclass
class Job:
    """One item of a run: the neutral request, a label for people, and the sidecar's ``job``
    record (original prompt, command …). ``prefix`` names its files (else the run's);
    ``provider`` runs it (else the run's)."""

    request: Request
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    prefix: str | None = None
    provider: Provider | None = None


class LazyJobs(Sequence[Job], Generic[S]):
    """Jobs made when asked for, ``build(spec)`` from a compact spec each (e.g. a prompt).

    :func:`run_jobs` asks for every job twice: once to check, price and key it before anything
    is paid for (then drops it), and again when its turn to run comes; so a batch of 10,000
    holds 10,000 specs, not 10,000 requests. ``build`` must make the same job each time."""

    def __init__(self, specs: Sequence[S], build: Callable[[S], Job]) -> None:
        self.specs, self.build = specs, build

    def __len__(self) -> int:
        return len(self.specs)

    @overload
    def __getitem__(self, index: int) -> Job: ...

    @overload
    def __getitem__(self, index: slice) -> list[Job]: ...

    def __getitem__(self, index: int | slice) -> Job | list[Job]:
        if isinstance(index, slice):
            return [self.build(spec) for spec in self.specs[index]]
        return self.build(self.specs[index])


@dataclass
class RunOptions:
    """Where and how a run's jobs run.

    ``command`` is part of every journal key (the same prompt under two commands is two items);
    ``journal`` keeps the run resumable in ``output_dir``; ``fresh`` forgets it first.
    """

    output_dir: Path | str = DEFAULT_OUTPUT_DIR
    prefix: str | None = None
    suffix: str | None = None
    command: str = "generate"
    journal: bool = False
    fresh: bool = False
    #: Send a model the catalog knows to be shut down (the catalog may be stale).
    allow_retired: bool = False
    concurrency: int | None = None
    on_outcome: Callable[[Outcome], None] | None = None
    on_event: EventHook | None = None
    summary: Summary | None = None
    #: ``--name``: the file-name template (``{prompt}``, ``{index}``, ``{seed}``, ``{model}``,
    #: ``{date}``, ``{id}``); None for ``{slug}-{id8}``.
    name_template: str | None = None
    #: Describe every job (provider, model, exact arguments, price) and run nothing.
    dry_run: bool = False
    #: Refuse to start when the estimate exceeds it; stop starting items once it is spent.
    budget: float | None = None
    #: Recorded in every item's sidecar ``job`` (e.g. the command line).
    record: dict[str, Any] = field(default_factory=dict)
    #: Seconds each item may take from start to saved (None: the kind's default, see
    #: :data:`twat_genai.jobs.deadline.DEFAULT_TIMEOUTS`).
    timeout: float | None = None
    #: Send again, in the same run, an item whose answer was lost after a paid submission (it
    #: may be paid twice); off, such an item fails saying so.
    retry_lost: bool = False


async def run_jobs(provider: Provider | None, jobs: Sequence[Job], options: RunOptions) -> Summary:
    """Run ``jobs`` as one batch (each on its own provider, else on ``provider``) and return
    its summary (outcomes carry :class:`ProviderResponse` results). Every job is checked and
    priced, and the output folder checked, before anything is paid for; a journaled run skips
    finished items and re-attaches to submitted jobs. The batch sees the user's catalog as it
    was when it started. ``jobs`` may be :class:`LazyJobs`: each is then made to be checked and
    made again when its turn comes, so a long batch holds only its running jobs."""
    with pinned():
        return await _run_jobs(provider, jobs, options)


async def _run_jobs(provider: Provider | None, jobs: Sequence[Job], options: RunOptions) -> Summary:
    if options.dry_run:
        described = ((_runner(job, provider), job.request, job.label) for job in jobs)
        return _dry_summary(plan(described, allow_retired=options.allow_retired), options)
    checked = _check(provider, jobs, options)
    prices, first, out_dir = checked.prices, checked.first, checked.out_dir
    concurrency = options.concurrency or (first.default_concurrency if first else 4)
    ahead = queued_ahead(concurrency) if first is not None and first.queues else 0
    if options.budget is not None:
        prices.check(options.budget)
    if options.summary is None:
        options = dataclasses.replace(options, summary=Summary())
    assert options.summary is not None
    options.summary.estimate = prices.text()
    check_writable(out_dir)  # refused before anything is paid for when it cannot be written
    remove_stale_temps(out_dir)  # once per run: nothing per item scans the folder
    start = _Starter(provider, jobs, options, out_dir, prices)

    def items_for(keys: list[str] | None) -> list[Item]:
        return [
            Item(
                label=label,
                run=_Run(start, index),
                key=keys[index] if keys is not None else "",
                takes_context=True,
                restore=restore,
            )
            for index, (label, restore) in enumerate(
                zip(checked.labels, checked.restorers, strict=True)
            )
        ]

    if not options.journal:
        return await run_batch(
            items_for(None),
            concurrency=concurrency,
            ahead=ahead,
            on_outcome=options.on_outcome,
            on_event=options.on_event,
            summary=options.summary,
            retry_lost=options.retry_lost,
        )
    with Journal.for_output(out_dir) as journal:
        keys = _run_keys(journal, checked.identities, options)
        checked.identities = []
        return await run_batch(
            items_for(keys),
            concurrency=concurrency,
            ahead=ahead,
            on_outcome=options.on_outcome,
            journal=journal,
            on_event=options.on_event,
            summary=options.summary,
            retry_lost=options.retry_lost,
        )


@dataclass
class _Checked:
    """What a run keeps of its checked jobs: each one's label, restorer, price and (when
    journaled) identity; the first job's provider, and the output folder."""

    out_dir: Path
    prices: Prices = field(default_factory=Prices)
    labels: list[str] = field(default_factory=list)
    restorers: list[Callable[[Entry], ProviderResponse]] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    first: Provider | None = None


def _check(provider: Provider | None, jobs: Sequence[Job], options: RunOptions) -> _Checked:
    """Check and price every job before the first one is paid for (raising the first refusal);
    what that built is dropped job by job."""
    checked = _Checked(Path(options.output_dir).expanduser(), first=provider)
    where = str(checked.out_dir.resolve())
    for index, job in enumerate(jobs):
        runner = _runner(job, provider)
        checked.first = checked.first or runner
        retired = options.allow_retired
        checked.prices.add(plan_one(runner, job.request, job.label, index, allow_retired=retired))
        checked.labels.append(job.label or getattr(job.request, "prompt", "") or options.command)
        checked.restorers.append(_restorer(runner.name))
        if options.journal:
            checked.identities.append(_identity(job, runner, options, where))
    return checked


def _runner(job: Job, provider: Provider | None) -> Provider:
    runner = job.provider or provider
    if runner is None:
        raise ValueError("run_jobs needs a provider for every job")
    return runner


@functools.cache
def _restorer(provider: str) -> Callable[[Entry], ProviderResponse]:
    """One restorer per provider, shared by its items."""
    return functools.partial(restored_response, provider=provider)


class _Starter:
    """Starts item ``index`` when its slot opens: makes its job (again, for :class:`LazyJobs`)
    and runs it. Shared by a run's items, so an item holds only its index."""

    def __init__(
        self,
        provider: Provider | None,
        jobs: Sequence[Job],
        options: RunOptions,
        out_dir: Path,
        prices: Prices,
    ) -> None:
        self.provider, self.jobs, self.options, self.prices = provider, jobs, options, prices
        self.out_dir = out_dir
        self.budget = Budget(options.budget)
        self.writers: dict[str | None, OutputWriter] = {}

    def writer_for(self, job: Job) -> OutputWriter:
        options = self.options
        prefix = job.prefix if job.prefix is not None else options.prefix
        if prefix not in self.writers:
            self.writers[prefix] = OutputWriter(
                self.out_dir,
                prefix=prefix,
                suffix=options.suffix,
                template=options.name_template,
                sweep=False,
            )
        return self.writers[prefix]

    def __call__(self, index: int, ctx: CallContext) -> Awaitable[ProviderResponse]:
        job, options = self.jobs[index], self.options
        return _run_job(
            _runner(job, self.provider),
            job,
            self.writer_for(job),
            ctx,
            allow_retired=options.allow_retired,
            index=index,
            budget=self.budget,
            cost=self.prices.usd(index),
            record=options.record,
            timeout=timeout_for(request_kind(job.request), options.timeout),
        )


class _Run:
    """An item's ``run``: its index and the run's shared :class:`_Starter` (a third of the
    memory of a ``functools.partial`` holding the same)."""

    __slots__ = ("index", "start")

    def __init__(self, start: _Starter, index: int) -> None:
        self.start, self.index = start, index

    def __call__(self, ctx: CallContext) -> Awaitable[ProviderResponse]:
        return self.start(self.index, ctx)


def _identity(job: Job, runner: Provider, options: RunOptions, where: str) -> str:
    """What makes an item the same item in a later run of the same command (``where``: the
    output folder, resolved)."""
    return item_key(
        command=options.command,
        provider=runner.name,
        endpoint=getattr(job.request, "model", None),
        request=job.request.model_dump(mode="json"),
        output_dir=where,
        prefix=job.prefix if job.prefix is not None else options.prefix,
        suffix=options.suffix,
    )


def _run_keys(journal: Journal, identities: list[str], options: RunOptions) -> list[str]:
    """The journal keys of this run's items. The same command resumes its unfinished run
    (items not started, failed or cancelled run; saved and blocked ones are reported); a run
    that finished, or ``--fresh``, starts a new run: new files, new seeds."""
    seen: dict[str, int] = {}
    numbered = []
    for identity in identities:
        seen[identity] = seen.get(identity, 0) + 1
        numbered.append((identity, seen[identity]))
    batch = item_key(items=sorted(f"{i}#{n}" for i, n in numbered))

    def keys_for(run: int) -> list[str]:
        extra = {"run": run} if run else {}  # run 0 keeps the keys of earlier releases
        return [item_key(identity=i, occurrence=n, **extra) for i, n in numbered]

    if options.fresh:
        if not journal.path.exists():
            return keys_for(0)
        try:
            run = journal.new_run(batch)
        except UnreadableJournal:
            journal.reset()  # only a journal that cannot be read is replaced
            run = journal.new_run(batch)
        return keys_for(run)
    run = journal.run_number(batch)
    keys = keys_for(run)
    entries = [journal.get(k) for k in keys]
    done = sum(1 for e in entries if finished(e))
    if entries and done == len(entries):
        return keys_for(journal.new_run(batch))
    if any(e is not None for e in entries) and options.on_event is not None:
        options.on_event("run_resumed", {"saved": done, "total": len(entries)})
    return keys


def _dry_summary(planned: list[Planned], options: RunOptions) -> Summary:
    """The plan as a batch's outcomes (status ``planned``), reported like any other."""
    summary = options.summary if options.summary is not None else Summary()
    for entry in planned:
        item = Item(label=entry.label, run=_never)
        outcome = Outcome(item, PLANNED, result=entry, index=entry.index)
        summary.outcomes.append(outcome)
        if options.on_outcome is not None:
            options.on_outcome(outcome)
    return summary


async def _never() -> None:  # pragma: no cover - a planned item is never run
    raise AssertionError("a dry run runs nothing")


async def run_one(provider: Provider, job: Job, options: RunOptions) -> ProviderResponse:
    """Run a single job and return its response, or raise its error."""
    summary = await run_jobs(provider, [job], options)
    outcome = summary.outcomes[0]
    if outcome.error is not None:
        raise outcome.error
    result: ProviderResponse = outcome.result
    return result


async def _run_job(
    provider: Provider,
    job: Job,
    writer: OutputWriter,
    ctx: CallContext,
    *,
    allow_retired: bool = False,
    index: int | None = None,
    budget: Budget | None = None,
    cost: float | None = None,
    record: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> ProviderResponse:
    record = record or {}
    if budget is not None and not ctx.recorded:
        budget.take(cost)  # a job re-attached to was paid for already

    def run(call: CallContext) -> Awaitable[ProviderResponse]:
        return generate(
            provider,
            job.request,
            writer,
            ctx=call,
            job={**record, **job.meta},
            warnings=list(job.warnings),
            allow_retired=allow_retired,
            index=index,
        )

    if timeout is None:
        return await run(ctx)
    return await within(timeout, ctx, run, provider=provider.name)


def restored_response(entry: Entry, *, provider: str) -> ProviderResponse:
    """The response of an item an earlier run saved, rebuilt from its journal entry."""
    files = [
        MediaFile(path=Path(p), metadata_path=Path(p).with_suffix(".json")) for p in entry.paths
    ]
    return ProviderResponse(
        provider=provider, model="", request_id=entry.request_id or "", files=files
    )


__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "Job",
    "LazyJobs",
    "RunOptions",
    "expand_prompts",
    "restored_response",
    "run_jobs",
    "run_one",
]
