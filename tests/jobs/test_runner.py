"""The batch runner: bounded concurrency, outcomes, journal resume (no second submission after
SIGKILL), ``--fresh``, Ctrl-C, and one upload for a shared input. No timed assertions."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from twat_genai.core.errors import BlockedError, ModelError, UsageError
from twat_genai.jobs.journal import JOURNAL_NAME, Journal
from twat_genai.jobs.runner import Item, Summary, queued_ahead, run_batch
from twat_genai.providers.base import CallContext
from twat_genai.testing import EmulatorServer, running_emulator

# ----------------------------------------------------------------------------- in-process


def test_never_more_than_concurrency_at_once() -> None:
    active = peak = 0

    async def work() -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        for _ in range(3):
            await asyncio.sleep(0)
        active -= 1
        return 1

    items = [Item(label=str(i), run=work) for i in range(40)]
    summary = asyncio.run(run_batch(items, concurrency=3))
    assert peak == 3
    assert summary.counts["ok"] == 40 and summary.exit_code == 0


def test_outcomes_and_summary() -> None:
    async def ok() -> str:
        return "fine"

    async def blocked() -> None:
        raise BlockedError("nsfw", provider="fal")

    async def failed() -> None:
        raise ModelError("no file", provider="fal")

    seen: list[str] = []
    events: list[str] = []
    items = [Item("a", ok), Item("b", blocked), Item("c", failed)]
    summary = asyncio.run(
        run_batch(
            items,
            concurrency=2,
            on_outcome=lambda o: seen.append(o.item.label),
            on_event=lambda name, data: events.append(name),
        )
    )
    by_label = {o.item.label: o for o in summary.outcomes}
    assert by_label["a"].status == "ok" and by_label["a"].result == "fine"
    assert by_label["b"].status == "blocked" and by_label["c"].status == "failed"
    assert sorted(seen) == ["a", "b", "c"]
    assert summary.exit_code != 0 and "1 ok" in summary.line()
    assert events[0] == "batch_started" and events[-1] == "batch_finished"
    assert events.count("item_finished") == 3


def test_journal_skips_ok_and_resumes_submitted(tmp_path: Path) -> None:
    saved = tmp_path / "done.png"
    saved.write_bytes(b"x")
    handle = {"endpoint": "e", "request_id": "r-2"}
    with Journal.for_output(tmp_path) as journal:
        journal.start("k1", "one")
        journal.finish("k1", "ok", paths=[saved], request_id="r-1")
        journal.start("k2", "two")
        journal.submitted("k2", handle)
        calls: dict[str, CallContext] = {}

        def runner(label: str) -> Callable[[CallContext], Any]:
            async def run(ctx: CallContext) -> str:
                calls[label] = ctx
                if ctx.resume is None:
                    await ctx.submitted({"endpoint": "e", "request_id": f"new-{label}"})
                return label

            return run

        items = [
            Item(label, runner(label), key=key, takes_context=True, restore=lambda e: e.paths)
            for label, key in (("one", "k1"), ("two", "k2"), ("three", "k3"))
        ]
        summary = asyncio.run(run_batch(items, concurrency=2, journal=journal))
        assert "one" not in calls  # done: not run again
        assert calls["two"].resume == handle  # re-attached, no new submission
        assert calls["three"].resume is None
        skipped = [o for o in summary.outcomes if o.skipped]
        assert [o.result for o in skipped] == [[str(saved)]]
        assert all(o.status == "ok" for o in summary.outcomes)
        assert journal.get("k3").handles == [{"endpoint": "e", "request_id": "new-three"}]  # type: ignore[union-attr]


def test_summary_without_results_keeps_statuses_only() -> None:
    seen: list[Any] = []

    async def work() -> str:
        return "a result"

    summary = Summary(keep_results=False)
    asyncio.run(
        run_batch(
            [Item(str(i), work) for i in range(3)],
            on_outcome=lambda o: seen.append(o.result),
            summary=summary,
        )
    )
    assert seen == ["a result"] * 3  # the caller saw each result as it came
    assert [o.result for o in summary.outcomes] == [None] * 3
    assert summary.counts["ok"] == 3 and summary.exit_code == 0


def test_split_contexts_resume_their_own_part_and_signal_done_once() -> None:
    submitted: list[dict[str, Any]] = []
    events: list[str] = []
    parent = CallContext.reattaching(
        [{"request_id": "b", "part": 1}, {"request_id": "g", "part": 1, "stage": "genfill"}],
        on_submitted=submitted.append,
        on_event=lambda name, data: events.append(name),
    )
    assert parent.resume is None  # nothing recorded for the unsplit call
    first, second = parent.split(2)
    assert first.resume is None and second.resume == {"request_id": "b", "part": 1}
    assert second.stage("genfill").resume == {"request_id": "g", "part": 1, "stage": "genfill"}
    asyncio.run(first.submitted({"request_id": "a"}))
    asyncio.run(first.stage("genfill").submitted({"request_id": "f"}))
    assert submitted == [
        {"request_id": "a", "part": 0},
        {"request_id": "f", "part": 0, "stage": "genfill"},
    ]
    first.event("remote_done")
    first.event("remote_done")  # a part signalling twice is still one part
    assert events == []  # part 1 is still running: the slot stays held
    second.event("remote_done")
    second.event("saved")
    assert events == ["remote_done", "saved"]
    assert parent.split(1) == [parent]


def test_recorded_handles_are_matched_by_place() -> None:
    from twat_genai.providers.base import handle_for

    expand = {"request_id": "e"}
    genfill = {"request_id": "g", "stage": "genfill"}
    assert handle_for([expand, genfill], {}) == expand
    assert handle_for([expand, genfill], {"stage": "genfill"}) == genfill
    assert handle_for([expand, {"request_id": "x"}], {}) is None  # two for one place: ambiguous
    assert handle_for([], {}) is None


def test_items_failing_before_any_submission_create_no_journal(tmp_path: Path) -> None:
    async def invalid(ctx: CallContext) -> None:
        raise UsageError("bad input")

    out = tmp_path / "out"
    with Journal.for_output(out) as journal:
        summary = asyncio.run(
            run_batch(
                [Item("x", invalid, key="k", takes_context=True)], concurrency=1, journal=journal
            )
        )
    assert summary.counts["failed"] == 1
    assert not out.exists()


# ----------------------------------------------------------------------------- the real CLI

N = 12
PROMPTS = "cat {" + ",".join(str(i) for i in range(1, N + 1)) + "}"


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorServer]:
    """Jobs take 0.6 s, four at a time: a run can be killed while jobs are in flight."""
    with running_emulator(port=0, latency=0.6, capacity=4) as server:
        yield server


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str) -> bytes:
    with _DIRECT.open(url, timeout=30) as resp:
        return bytes(resp.read())


def _reset(server: EmulatorServer) -> None:
    _control(server, "reset")


def _log(server: EmulatorServer) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(http_get(f"{server.root}/_emulator/requests"))
    return entries


def _submissions(server: EmulatorServer) -> int:
    return sum(
        1
        for e in _log(server)
        if e["method"] == "POST" and e["path"].startswith("/fal/queue/") and e["status"] == 200
    )


def _env(server: EmulatorServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FAL_KEY="fal-secret-key-0123456789",
        TWAT_GENAI_FAL_BASE_URL=f"{server.root}/fal",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def _cli(out: Path, *extra: str, prompts: str = PROMPTS, concurrency: int = 4) -> list[str]:
    return [
        sys.executable, "-m", "twat_genai", "text", "--prompts", prompts,
        "--concurrency", str(concurrency), "--output_dir", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _interruptible(argv: list[str]) -> list[str]:
    """``argv`` (``python -m twat_genai …``) with SIGINT handled as when started from a
    terminal. A child inherits an ignored SIGINT (as a test run started in the background has),
    and Python then never installs its Ctrl-C handler: the signal would be lost."""
    start = (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('twat_genai', run_name='__main__', alter_sys=True)"
    )
    assert argv[1:3] == ["-m", "twat_genai"]
    return [argv[0], "-c", start, *argv[3:]]


def _images(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if p.suffix in (".jpg", ".jpeg", ".png", ".webp")]


def _start_and_wait_for(
    server: EmulatorServer, argv: list[str], submissions: int
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv, env=_env(server), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while _submissions(server) < submissions:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.02)
    return proc


def _control(server: EmulatorServer, action: str) -> None:
    req = urllib.request.Request(f"{server.root}/_emulator/{action}", data=b"", method="POST")
    _DIRECT.open(req, timeout=30).read()


def _recorded(out: Path) -> int:
    with Journal.for_output(out) as journal:
        return sum(len(e.handles) for e in journal.entries())


def _kill_midway(
    server: EmulatorServer, argv: list[str], out: Path, submissions: int, in_flight: int
) -> None:
    """Start ``argv`` and SIGKILL it with jobs in flight, once ``submissions`` jobs exist.

    Job completion is held first: once ``in_flight`` jobs (all the client may have submitted:
    its concurrency and the few it keeps waiting in fal's queue) wait on it,
    the client can submit nothing more, and the kill comes once the journal has every submitted
    job. fal has no idempotency key, so a kill in the instant between fal accepting a submit
    and its answer arriving cannot be recovered by anyone.
    """
    proc = _start_and_wait_for(server, argv, submissions)
    _control(server, "hold")
    deadline = time.monotonic() + 60
    try:
        while True:
            stats = server.stats.snapshot()
            held = stats.get("submissions", 0) - stats.get("completed", 0)
            if held >= in_flight and _recorded(out) >= stats["submissions"]:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, f"never quiet: {stats}, {_recorded(out)} recorded"
            time.sleep(0.02)
        proc.kill()
        proc.wait()
    finally:
        _control(server, "release")
    with Journal.for_output(out) as journal:
        states = [e.state for e in journal.entries()]
    assert "submitted" in states  # jobs were in flight when the process died


def _run(server: EmulatorServer, argv: list[str]) -> None:
    done = subprocess.run(argv, check=False, env=_env(server), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def batch_emulator() -> Iterator[EmulatorServer]:
    """Jobs take 0.25 s, sixteen at a time: a 100-item run lasts about two seconds."""
    with running_emulator(port=0, latency=0.25, capacity=16) as server:
        yield server


def test_sigkill_of_a_100_item_run_then_rerun_submits_each_item_once(
    batch_emulator: EmulatorServer, tmp_path: Path
) -> None:
    _reset(batch_emulator)
    out, n = tmp_path / "out", 100
    argv = _cli(out, prompts="cat {" + ",".join(map(str, range(n))) + "}", concurrency=16)
    _kill_midway(batch_emulator, argv, out, 40, in_flight=16 + queued_ahead(16))
    assert _submissions(batch_emulator) < n

    _run(batch_emulator, argv)
    assert len(_images(out)) == n
    assert _submissions(batch_emulator) == n  # re-attached, never submitted twice

    # The run is finished: the same command again is a new run (new files, new seeds).
    _run(batch_emulator, argv)
    assert _submissions(batch_emulator) == 2 * n and len(_images(out)) == 2 * n


def test_a_fal_batch_keeps_one_in_eight_more_jobs_waiting_in_fals_queue(
    batch_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """At --concurrency 8 a fal batch has 9 jobs submitted while none finishes: the ninth waits
    in fal's queue and starts the moment a running job ends; no more are sent."""
    _reset(batch_emulator)
    out, n = tmp_path / "out", 24
    _control(batch_emulator, "hold")
    try:
        argv = _cli(out, prompts="elk {" + ",".join(map(str, range(n))) + "}", concurrency=8)
        proc = _start_and_wait_for(batch_emulator, argv, 9)
        time.sleep(0.5)  # time enough to send a tenth, were it allowed
        assert _submissions(batch_emulator) == 9 == 8 + queued_ahead(8)
    finally:
        _control(batch_emulator, "release")
    assert proc.wait(timeout=60) == 0
    assert len(_images(out)) == n and _submissions(batch_emulator) == n


def test_sigkill_then_rerun_reattaches_every_part_of_a_split_request(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    # num_images 8 on fal (4 per call) is two jobs per item: both re-attach after a kill.
    _reset(slow_emulator)
    out = tmp_path / "out"
    argv = _cli(out, "--num_images", "8", prompts="dog {1,2,3}", concurrency=2)
    _kill_midway(slow_emulator, argv, out, 3, in_flight=2 * (2 + queued_ahead(2)))
    _run(slow_emulator, argv)
    assert len(_images(out)) == 3 * 8
    assert _submissions(slow_emulator) == 3 * 2


@pytest.mark.usefixtures("fal_env")
def test_a_run_failing_validation_leaves_no_journal(
    run_cli: Callable[..., tuple[int, str, str]],
    make_image: Callable[..., Path],
    tmp_path: Path,
) -> None:
    image = make_image(tmp_path / "in.png", (512, 512))
    out = tmp_path / "out"
    code, _, err = run_cli(
        "outpaint", "--input_image", str(image), "--prompts", "sky",
        "--target_width", "256", "--target_height", "256", "--output_dir", str(out),
    )  # fmt: skip
    assert code == 2 and "does not fit" in err
    assert not (out / JOURNAL_NAME).exists()


def test_ctrl_c_cancels_remote_jobs_and_exits_130(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    _reset(slow_emulator)
    out = tmp_path / "out"
    _control(slow_emulator, "hold")  # no job ends before the Ctrl-C, however slow the machine
    try:
        proc = _start_and_wait_for(slow_emulator, _interruptible(_cli(out)), 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        _control(slow_emulator, "release")
    assert proc.returncode == 130
    assert b"interrupted" in err and b"cancelled" in err
    cancels = [e for e in _log(slow_emulator) if e["method"] == "PUT"]
    assert cancels  # the queued/running jobs were cancelled remotely
    with Journal.for_output(out) as journal:
        assert any(e.state == "cancelled" for e in journal.entries())


@pytest.mark.usefixtures("fal_env")
def test_shared_input_is_uploaded_once(
    emulator: EmulatorServer,
    run_cli: Callable[..., tuple[int, str, str]],
    make_image: Callable[..., Path],
    tmp_path: Path,
) -> None:
    image = make_image(tmp_path / "in.png", (256, 256))
    code, out, err = run_cli(
        "image", "--input_image", str(image), "--prompts", PROMPTS,
        "--output_dir", str(tmp_path / "out"), "--concurrency", "6",
    )  # fmt: skip
    assert code == 0, err
    assert len(out.splitlines()) == N
    stats = json.loads(http_get(f"{emulator.root}/_emulator/stats"))
    assert stats["submissions"] == N and stats["uploads"] == 1


def test_a_retry_after_a_failed_reattach_holds_a_slot_again(tmp_path: Path) -> None:
    active = peak = 0
    attempts: list[str] = []

    def runner(label: str) -> Callable[[CallContext], Any]:
        async def run(ctx: CallContext) -> str:
            nonlocal active, peak
            attempts.append(label)
            if ctx.resume is not None:
                ctx.event("remote_done")  # the old job finished, then its result was gone
                raise ModelError("result expired", provider="fal")
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1
            ctx.event("remote_done")
            return label

        return run

    with Journal.for_output(tmp_path) as journal:
        journal.start("ka", "a")
        journal.submitted("ka", {"endpoint": "e", "request_id": "old"})
        items = [
            Item(label, runner(label), key=key, takes_context=True)
            for label, key in (("a", "ka"), ("b", "kb"), ("c", "kc"))
        ]
        summary = asyncio.run(run_batch(items, concurrency=1, journal=journal))
    assert attempts.count("a") == 2 and summary.counts["ok"] == 3
    assert peak == 1  # the fresh attempt of "a" waited for a slot like everyone else


def test_one_failing_call_of_a_split_request_cancels_the_others(tmp_path: Path) -> None:
    from twat_genai.core.models import ImageGenerationRequest, ProviderResponse
    from twat_genai.core.writer import OutputWriter
    from twat_genai.jobs.generate import generate
    from twat_genai.providers.base import Capabilities, Provider

    outcome: dict[str, str] = {}

    class TwoCalls(Provider):
        name = "two-calls"
        capabilities = Capabilities(kinds=frozenset({"image"}), max_images_per_call=4)

        async def generate(self, request: Any, ctx: CallContext) -> ProviderResponse:
            if request.n == 4 and "first" not in outcome:
                outcome["first"] = "failing"
                await asyncio.sleep(0)
                raise ModelError("part failed", provider=self.name)
            try:
                await asyncio.Event().wait()  # a job that would run on unobserved
            except asyncio.CancelledError:
                outcome["second"] = "cancelled"
                raise
            raise AssertionError("unreachable")

    seen_at_raise: dict[str, str] = {}

    async def run() -> None:
        async with TwoCalls(api_key="k") as provider:
            request = ImageGenerationRequest(prompt="x", n=7)
            try:
                await generate(provider, request, OutputWriter(tmp_path))
            finally:
                seen_at_raise.update(outcome)  # before the event loop's own clean-up

    with pytest.raises(ModelError, match="part failed"):
        asyncio.run(run())
    assert seen_at_raise == {"first": "failing", "second": "cancelled"}


@pytest.mark.usefixtures("fal_env")
def test_a_failed_download_is_reattached_not_paid_again(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    from twat_genai.core.errors import DownloadError
    from twat_genai.core.models import ImageGenerationRequest
    from twat_genai.core.writer import OutputWriter
    from twat_genai.jobs.generate import generate
    from twat_genai.providers.fal import FalProvider
    from twat_genai.transport.retry import RetryPolicy

    async def batch(journal: Journal) -> Any:
        async with FalProvider() as provider:
            provider.fetcher.retry = RetryPolicy(attempts=1)  # fail fast

            async def run(ctx: CallContext) -> Any:
                request = ImageGenerationRequest(
                    prompt="a cat [emulate:broken_url]", model="fal-ai/flux-lora"
                )
                return await generate(provider, request, OutputWriter(tmp_path), ctx=ctx)

            item = Item("cat", run, key="k", takes_context=True)
            return await run_batch([item], journal=journal)

    with Journal.for_output(tmp_path) as journal:
        for _ in range(2):
            summary = asyncio.run(batch(journal))
            (outcome,) = summary.outcomes
            assert outcome.status == "failed" and isinstance(outcome.error, DownloadError)
    stats = emulator.stats.snapshot()
    assert stats["submissions"] == 1  # the second run re-attached to the finished job
    assert stats["results"] == 2


@pytest.mark.usefixtures("fal_env")
def test_outpaint_genfill_pass_is_reattached_too(
    emulator: EmulatorServer,
    run_cli: Callable[..., tuple[int, str, str]],
    make_image: Callable[..., Path],
    tmp_path: Path,
) -> None:
    image = make_image(tmp_path / "in.png", (512, 384))
    out = tmp_path / "out"
    argv = (
        "outpaint", "--input_image", str(image), "--prompts", "a wide bay",
        "--target_width", "1024", "--target_height", "512", "--output_dir", str(out),
    )  # fmt: skip
    code, stdout, err = run_cli(*argv)
    assert code == 0, err
    with Journal.for_output(out) as journal:
        (entry,) = journal.entries()
    assert [h.get("stage") for h in entry.handles] == [None, "genfill"]
    for line in stdout.split():  # lose the files: the next run must fetch them again
        Path(line).unlink()
    code, stdout, err = run_cli(*argv)
    assert code == 0, err
    assert len(stdout.split()) == 2 and all(Path(p).exists() for p in stdout.split())
    assert emulator.stats.snapshot()["submissions"] == 2  # expand and GenFill, each once


@pytest.mark.usefixtures("fal_env")
def test_an_unreadable_journal_is_one_clear_error(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / JOURNAL_NAME).write_text("not a database")
    for command in ("text", "openai_image"):
        code, stdout, err = run_cli(
            command, "--prompts", "x", "--output_dir", str(out), "--sandbox"
        )
        assert code == 2 and stdout == ""
        assert "cannot be read" in err and "remove it" in err and "Traceback" not in err
    # --fresh means "forget the journal": an unreadable one is replaced.
    code, stdout, err = run_cli(
        "text", "--prompts", "x", "--output_dir", str(out), "--sandbox", "--fresh"
    )
    assert code == 0 and len(stdout.split()) == 1, err
    with Journal.for_output(out) as journal:
        assert [e.state for e in journal.entries()] == ["ok"]


def test_a_50_item_run_killed_and_rerun_says_it_resumes_and_ends_with_50(
    batch_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The same command after a kill resumes: it says how many were saved, and the folder ends
    with exactly the 50 images of the run."""
    _reset(batch_emulator)
    out, n = tmp_path / "out", 50
    argv = _cli(out, prompts="owl {" + ",".join(map(str, range(n))) + "}", concurrency=8)
    _kill_midway(batch_emulator, argv, out, 16, in_flight=8 + queued_ahead(8))
    done = subprocess.run(
        argv, check=False, env=_env(batch_emulator), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.search(
        rb"resuming: \d+ of 50 items already saved \(--fresh starts over\)", done.stderr
    )
    assert len(_images(out)) == n and _submissions(batch_emulator) == n


@pytest.mark.usefixtures("fal_env")
def test_the_same_command_twice_makes_new_images(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """A run that finished is not a cache: ``text "a cat"`` twice leaves two images."""
    for _ in range(2):
        code, _, err = run_cli("text", "a cat")
        assert code == 0, err
    images = sorted(Path("generated_images").glob("*.jpg"))
    assert len(images) == 2
    seeds = {json.loads(p.with_suffix(".json").read_text())["seed"] for p in images}
    assert len(seeds) == 2  # a new seed each time


def test_a_summary_repr_stays_short_however_many_items() -> None:
    """asyncio.run (Python 3.11) formats the repr of its main task's result when it exits: a
    batch's summary must not spell out every outcome and job."""

    async def job() -> str:
        return "x" * 10_000

    items = [Item(label=f"item {i} " + "y" * 1_000, run=job) for i in range(300)]
    summary = asyncio.run(run_batch(items, concurrency=16))
    assert len(summary.outcomes) == 300
    assert repr(summary) == "Summary(300 items: 300 ok)"
