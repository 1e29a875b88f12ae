"""The one execution path, in-process on ``FakeProvider``: jobs become items, are split, warned
about, saved, journaled and resumed the same way for every provider."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.errors import UsageError
from twat_genai.core.models import ImageGenerationRequest
from twat_genai.jobs.pipeline import Job, LazyJobs, RunOptions, run_jobs, run_one
from twat_genai.testing.fake import FakeProvider


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    FakeProvider.submissions.clear()


def run(jobs: list[Job], **options: object) -> list[object]:
    async def main() -> list[object]:
        async with FakeProvider() as provider:
            summary = await run_jobs(provider, jobs, RunOptions(**options))  # type: ignore[arg-type]
        return list(summary.outcomes)

    return asyncio.run(main())


def test_a_single_job_saves_its_files_with_sidecars(tmp_path: Path) -> None:
    """``run_one`` returns the response with every file saved and described."""

    async def main() -> object:
        async with FakeProvider() as provider:
            job = Job(ImageGenerationRequest(prompt="a kite", seed=3, n=2))
            return await run_one(provider, job, RunOptions(output_dir=tmp_path))

    response = asyncio.run(main())
    paths = [f.path for f in response.files]  # type: ignore[attr-defined]
    assert len(paths) == 2 and all(p is not None and p.exists() for p in paths)
    meta = json.loads(paths[0].with_suffix(".json").read_text())
    assert meta["provider"] == "fake" and meta["model"] == "fake-image"
    assert meta["result"]["seed"] == 3


def test_n_above_the_models_maximum_is_split_into_calls(tmp_path: Path) -> None:
    """fake-image returns at most 4 per call: 6 images are two calls, all saved."""
    outcomes = run([Job(ImageGenerationRequest(prompt="x", n=6, seed=1))], output_dir=tmp_path)
    assert outcomes[0].status == "ok"  # type: ignore[attr-defined]
    assert len(FakeProvider.submissions) == 2
    assert len(list(tmp_path.glob("*.png"))) == 6


def test_settings_the_model_cannot_honour_become_warnings(tmp_path: Path) -> None:
    """Guidance is not in fake-image's catalog entry: dropped, and the sidecar says so."""
    request = ImageGenerationRequest(prompt="x", guidance_scale=7.0)
    [outcome] = run([Job(request)], output_dir=tmp_path)
    warnings = outcome.result.warnings  # type: ignore[attr-defined]
    assert any("does not support guidance scale" in w for w in warnings)


def test_an_unknown_model_passes_through_with_one_warning(tmp_path: Path) -> None:
    [outcome] = run(
        [Job(ImageGenerationRequest(prompt="x", model="fake-new"))], output_dir=tmp_path
    )
    warnings = outcome.result.warnings  # type: ignore[attr-defined]
    assert sum("not in the model catalog" in w for w in warnings) == 1


def test_a_finished_run_run_again_is_a_new_run(tmp_path: Path) -> None:
    """The same jobs after a run that finished: new items, new files."""
    jobs = lambda: [Job(ImageGenerationRequest(prompt=p)) for p in ("a", "b", "c")]  # noqa: E731
    first = run(jobs(), output_dir=tmp_path, journal=True)
    assert [o.status for o in first] == ["ok"] * 3  # type: ignore[attr-defined]
    second = run(jobs(), output_dir=tmp_path, journal=True)
    assert not any(o.skipped for o in second)  # type: ignore[attr-defined]
    assert len(FakeProvider.submissions) == 6 and len(list(tmp_path.glob("*.png"))) == 6


def test_an_unfinished_run_resumes_and_says_so(tmp_path: Path) -> None:
    """After a run where an item failed, the same jobs run only that item again; the event
    says how many were already saved."""
    from twat_genai.core.errors import ModelError

    class Flaky(FakeProvider):
        fail = True

        async def generate(self, request, ctx):  # type: ignore[no-untyped-def]
            if request.prompt == "b" and Flaky.fail:
                raise ModelError("b failed", provider="fake")
            return await super().generate(request, ctx)

    events: list[tuple[str, dict[str, object]]] = []

    async def main() -> list[object]:
        async with Flaky() as provider:
            jobs = [Job(ImageGenerationRequest(prompt=p)) for p in ("a", "b", "c")]
            options = RunOptions(
                output_dir=tmp_path, journal=True, on_event=lambda n, d: events.append((n, d))
            )
            return list((await run_jobs(provider, jobs, options)).outcomes)

    first = asyncio.run(main())
    assert [o.status for o in first] == ["ok", "failed", "ok"]  # type: ignore[attr-defined]
    Flaky.fail = False
    second = asyncio.run(main())
    assert [o.skipped for o in second] == [True, False, True]  # type: ignore[attr-defined]
    assert ("run_resumed", {"saved": 2, "total": 3}) in events
    assert len(FakeProvider.submissions) == 3


def test_a_recorded_job_is_reattached_not_paid_again(tmp_path: Path) -> None:
    """A job submitted in an interrupted run (its handle in the journal, no file yet) is
    followed by its request id when the same run starts again."""
    from twat_genai.jobs.journal import Journal

    job = Job(ImageGenerationRequest(prompt="kept"))
    run([job], output_dir=tmp_path, journal=True)
    [entry] = Journal.for_output(tmp_path).entries()
    for path in entry.paths:  # the files vanish, as if the run died before saving them
        Path(path).unlink()
        Path(path).with_suffix(".json").unlink()
    before = list(FakeProvider.submissions)
    [again] = run([Job(ImageGenerationRequest(prompt="kept"))], output_dir=tmp_path, journal=True)
    assert again.status == "ok" and FakeProvider.submissions == before  # type: ignore[attr-defined]
    assert again.result.request_id == entry.request_id  # type: ignore[attr-defined]


def test_a_job_the_provider_cannot_do_fails_the_run_before_any_job(tmp_path: Path) -> None:
    """Every job is checked before the first one runs: nothing is paid, nothing written."""
    from twat_genai.core.models import VideoGenerationRequest

    jobs = [Job(ImageGenerationRequest(prompt="fine")), Job(VideoGenerationRequest(prompt="x"))]
    with pytest.raises(UsageError, match="cannot do video"):
        run(jobs, output_dir=tmp_path)
    assert FakeProvider.submissions == [] and list(tmp_path.iterdir()) == []


def test_lazy_jobs_are_made_to_be_checked_and_again_to_run_and_never_kept(
    tmp_path: Path,
) -> None:
    """A long batch holds its specs, not its requests: each job is made once to be checked
    (then dropped) and once when its turn comes; a reported item's request is gone, and the
    summary keeps none."""
    prompts = [f"item {i}" for i in range(12)]
    made: list[weakref.ref[ImageGenerationRequest]] = []
    reported: list[str] = []
    excess: list[int] = []  # requests alive beyond the items started and not yet reported

    def build(prompt: str) -> Job:
        gc.collect()
        alive = sum(r() is not None for r in made)
        started = max(0, len(made) - len(prompts))
        excess.append(alive - (started - len(reported) if started else 1))
        request = ImageGenerationRequest(prompt=prompt, seed=1)
        made.append(weakref.ref(request))
        return Job(request)

    options = RunOptions(
        output_dir=tmp_path,
        journal=True,
        concurrency=2,
        on_outcome=lambda o: reported.append(o.item.label),
    )

    async def main() -> Any:
        async with FakeProvider() as provider:
            return await run_jobs(provider, LazyJobs(prompts, build), options)

    summary = asyncio.run(main())
    assert [o.status for o in summary.outcomes] == ["ok"] * 12 and reported == prompts
    assert len(made) == 24 and max(excess) <= 0
    gc.collect()
    assert [r for r in made if r() is not None] == []


def test_a_bad_last_lazy_job_fails_the_run_before_any_job(tmp_path: Path) -> None:
    """Lazy jobs are all checked before the first one runs, the last one too."""
    from twat_genai.core.models import VideoGenerationRequest

    def build(prompt: str) -> Job:
        request = VideoGenerationRequest if prompt == "bad" else ImageGenerationRequest
        return Job(request(prompt=prompt))

    with pytest.raises(UsageError, match="cannot do video"):
        run(LazyJobs(["a", "b", "bad"], build), output_dir=tmp_path, journal=True)  # type: ignore[arg-type]
    assert FakeProvider.submissions == [] and list(tmp_path.iterdir()) == []


def test_nothing_per_item_lists_the_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run into a folder that already holds files lists it once (the sweep of a killed
    run's temporary files), however many items it saves."""
    import os

    for n in range(300):
        (tmp_path / f"old-{n}.png").write_bytes(b"")
    listed: list[str] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def scandir(path: Any = ".") -> Any:
        listed.append(str(path))
        return real_scandir(path)

    def listdir(path: Any = ".") -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    jobs = [Job(ImageGenerationRequest(prompt=f"item {i}")) for i in range(20)]
    outcomes = run(jobs, output_dir=tmp_path, journal=True)
    assert [o.status for o in outcomes] == ["ok"] * 20  # type: ignore[attr-defined]
    assert [p for p in listed if Path(p).resolve() == tmp_path.resolve()] == [str(tmp_path)]
