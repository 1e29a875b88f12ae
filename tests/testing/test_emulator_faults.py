"""Fault injection over real HTTP: each kind's wire shape, where it strikes (before or after a
job exists, on downloads only), the counters, and reproducible draws."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import fal_client
import fal_client.client as fal_client_module
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from twat_genai.testing import EmulatorServer, running_emulator
from twat_genai.testing.chutes import DUMMY_KEY
from twat_genai.testing.emulator.faults import FaultInjector, FaultPlan, FaultSpecError

from .conftest import AUTH

FLUX = "fal-ai/flux-lora"


def _fal_submit(server: EmulatorServer, prompt: str = "x") -> httpx2.Response:
    return httpx2.post(
        f"{server.root}/fal/queue/{FLUX}",
        json={"prompt": prompt, "image_size": "square"},
        headers=AUTH,
        trust_env=False,
        timeout=10,
    )


def _fal_result(server: EmulatorServer, prompt: str = "x") -> dict[str, Any]:
    r = httpx2.post(
        f"{server.root}/fal/run/{FLUX}",
        json={"prompt": prompt, "image_size": "square"},
        headers=AUTH,
        trust_env=False,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def _stats(server: EmulatorServer, provider: str) -> dict[str, int]:
    stats: dict[str, int] = server.stats.snapshot()["providers"].get(provider, {})
    return stats


@pytest.fixture
def faulty() -> Iterator[EmulatorServer]:
    """An emulator whose faults each test sets (``server.set_faults``)."""
    with running_emulator() as server:
        yield server


# --------------------------------------------------------------------------- the plan


def test_plan_syntax() -> None:
    plan = FaultPlan.parse(
        "429=0.2,5xx=0.05,reset=0.02,reset_after=0.02,truncate=2%,drip=0.01,seed=7"
    )
    assert plan.seed == 7 and plan.rate("fal", "429") == 0.2 and plan.rate("x", "truncate") == 0.02
    plan = FaultPlan.parse("429=0.1;fal:429=0.5,5xx=0.2;provider=openai,reset=1")
    assert plan.rate("fal", "429") == 0.5 and plan.rate("gemini", "429") == 0.1
    assert plan.rate("openai", "reset") == 1.0 and plan.rate("openai", "429") == 0.1
    assert FaultPlan.parse(str(plan)) == plan
    assert not FaultPlan.parse("") and not FaultPlan.parse("429=0")
    for bad in ("teapot=0.1", "429=2", "429", "seed=x", "429=lots"):
        with pytest.raises(FaultSpecError):
            FaultPlan.parse(bad)
    with pytest.raises(FaultSpecError, match="unknown provider"):
        running_emulator(faults="falx:429=1").__enter__()


def test_draws_are_reproducible_and_keep_their_rates() -> None:
    plan = FaultPlan.parse("429=0.2,5xx=0.1,reset=0.05,seed=7")
    one, two = FaultInjector(plan), FaultInjector(plan)
    seq = [one.ingress("fal") for _ in range(4000)]
    assert seq == [two.ingress("fal") for _ in range(4000)]
    for kind, rate in (("429", 0.2), ("5xx", 0.1), ("reset", 0.05)):
        assert abs(seq.count(kind) / len(seq) - rate) < 0.02
    one.restart()
    assert [one.ingress("fal") for _ in range(50)] == seq[:50]
    other = FaultInjector(FaultPlan.parse("429=0.2,5xx=0.1,reset=0.05,seed=8"))
    assert [other.ingress("fal") for _ in range(50)] != seq[:50]


def test_same_requests_meet_the_same_faults_over_http() -> None:
    def statuses() -> list[int]:
        with (
            running_emulator(faults="fal:429=0.3,5xx=0.2,seed=11") as server,
            httpx2.Client(headers=AUTH, trust_env=False) as c,
        ):
            url = f"{server.root}/fal/queue/{FLUX}"
            return [c.post(url, json={"prompt": "x"}).status_code for _ in range(30)]

    first = statuses()
    assert first == statuses() and {429, 200} <= set(first)


# --------------------------------------------------------------------------- before a job


def test_fal_5xx_is_an_ingress_error_and_creates_no_job(faulty: EmulatorServer) -> None:
    """nginx's page, no ``x-fal-request-id``: fal_client's own test calls it an ingress error."""
    faulty.set_faults("fal:5xx=1")
    r = httpx.post(
        f"{faulty.root}/fal/queue/{FLUX}", json={"prompt": "x"}, headers=AUTH, trust_env=False
    )
    assert r.status_code in (502, 504) and "nginx" in r.text
    assert "x-fal-request-id" not in r.headers
    assert fal_client_module._is_ingress_error(r)
    stats = _stats(faulty, "fal")
    assert stats["submissions"] == 0 and stats["fault_5xx"] == 1 and faulty.apps["/fal"].jobs == {}  # type: ignore[attr-defined]


def test_fal_client_retries_ingress_faults_and_submits_once(
    faulty: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty.set_faults("fal:429=0.3,5xx=0.3,seed=3")
    root = faulty.root
    monkeypatch.setattr(fal_client_module, "QUEUE_URL_FORMAT", root + "/fal/queue/")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    handle = fal_client.SyncClient(key="k:s").submit(FLUX, {"prompt": "x"})
    assert handle.request_id
    stats = _stats(faulty, "fal")
    assert stats["submissions"] == 1 and stats["fault_429"] + stats["fault_5xx"] >= 1


def test_fal_429(faulty: EmulatorServer) -> None:
    faulty.set_faults("fal:429=1")
    r = _fal_submit(faulty)
    assert r.status_code == 429 and "x-fal-request-id" not in r.headers
    assert _stats(faulty, "fal")["submissions"] == 0


def test_openai_429_and_5xx_carry_a_short_retry_after_ms(faulty: EmulatorServer) -> None:
    client = openai.OpenAI(base_url=f"{faulty.root}/openai/v1", api_key="sk-x", max_retries=0)
    faulty.set_faults("openai:429=1")
    with pytest.raises(openai.RateLimitError) as limited:
        client.images.generate(model="gpt-image-2", prompt="x")
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after-ms"] == "20"
    faulty.set_faults("openai:5xx=1")
    with pytest.raises(openai.InternalServerError) as failed:
        client.images.generate(model="gpt-image-2", prompt="x")
    assert failed.value.status_code == 503
    assert _stats(faulty, "openai")["submissions"] == 0
    faulty.set_faults("openai:429=0.5,seed=2")
    started = time.monotonic()
    result = client.with_options(max_retries=8).images.generate(model="gpt-image-2", prompt="x")
    assert result.data and time.monotonic() - started < 5
    assert _stats(faulty, "openai")["submissions"] == 1


def test_google_429_has_a_short_retry_info_and_5xx_is_unavailable(faulty: EmulatorServer) -> None:
    options = types.HttpOptions(base_url=f"{faulty.root}/gemini")
    client = genai.Client(api_key="k", http_options=options)
    faulty.set_faults("gemini:429=1")
    with pytest.raises(genai_errors.ClientError) as limited:
        client.models.generate_content(model="gemini-nano-banana-2.1", contents="x")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    details = limited.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.02s"} in details
    faulty.set_faults("gemini:5xx=1")
    with pytest.raises(genai_errors.ServerError) as failed:
        client.models.generate_content(model="gemini-nano-banana-2.1", contents="x")
    assert failed.value.code == 503 and failed.value.status == "UNAVAILABLE"
    assert _stats(faulty, "gemini")["submissions"] == 0


def test_chutes_429_and_503_in_the_gateways_words(faulty: EmulatorServer) -> None:
    def post() -> httpx2.Response:
        return httpx2.post(
            f"{faulty.root}/chutes/chutes-hidream/generate",
            json={"prompt": "x"},
            headers={"Authorization": f"Bearer {DUMMY_KEY}"},
            trust_env=False,
        )

    faulty.set_faults("chutes:429=1")
    assert post().json() == {"detail": "infra_overload"}
    faulty.set_faults("chutes:5xx=1")
    r = post()
    assert r.status_code == 503
    assert r.json()["detail"].startswith("No instances available (yet) for chute_id=")
    assert _stats(faulty, "chutes")["submissions"] == 0


def test_reset_closes_the_connection_before_the_provider(faulty: EmulatorServer) -> None:
    """A call that creates no job (a status poll) gets a real TCP reset; a submit gets the
    ingress's answer that its connection to the provider failed (no request id), since a bare
    reset there could not tell the client that no job exists."""
    faulty.set_faults("fal:reset=1")
    with pytest.raises(httpx2.TransportError):
        httpx2.get(
            f"{faulty.root}/fal/queue/{FLUX}/requests/x/status", headers=AUTH, trust_env=False
        )
    answer = _fal_submit(faulty)
    assert answer.status_code in (502, 504) and "x-fal-request-id" not in answer.headers
    stats = _stats(faulty, "fal")
    assert stats["submissions"] == 0 and stats["fault_reset"] == 2
    poll, submit = faulty.requests
    assert poll["fault"] == "reset" and poll["status"] is None
    assert submit["fault"] == "reset" and submit["status"] == answer.status_code


# --------------------------------------------------------------------------- after a job


def test_reset_after_loses_the_answer_not_the_job(faulty: EmulatorServer) -> None:
    faulty.set_faults("fal:reset_after=1;openai:reset_after=1")
    with pytest.raises(httpx2.TransportError):
        _fal_submit(faulty)
    (job,) = faulty.apps["/fal"].jobs.values()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while job.state != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.state == "COMPLETED" and job.outcome.status == 200
    with pytest.raises(httpx2.TransportError):
        httpx2.post(
            f"{faulty.root}/openai/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x"},
            headers={"Authorization": "Bearer sk-x"},
            trust_env=False,
        )
    assert (
        _stats(faulty, "fal")["submissions"] == 1
        and _stats(faulty, "fal")["fault_reset_after"] == 1
    )
    assert _stats(faulty, "openai")["submissions"] == 1
    assert _stats(faulty, "openai")["results"] == 1  # the image was made, and billed
    assert [e.get("fault") for e in faulty.requests] == ["reset_after", "reset_after"]


def test_refused_calls_meet_no_reset_after(faulty: EmulatorServer) -> None:
    faulty.set_faults("openai:reset_after=1")
    r = httpx2.post(
        f"{faulty.root}/openai/v1/images/generations",
        json={"model": "gpt-image-1", "prompt": "x"},
        headers={"Authorization": "Bearer sk-x"},
        trust_env=False,
    )
    assert r.status_code == 404


# --------------------------------------------------------------------------- downloads


def test_truncate_promises_the_length_and_sends_less(faulty: EmulatorServer) -> None:
    url = _fal_result(faulty)["images"][0]["url"]
    full = httpx2.get(url, trust_env=False).content
    faulty.set_faults("fal:truncate=1")
    with httpx2.stream("GET", url, trust_env=False) as r:
        assert int(r.headers["content-length"]) == len(full)
        with pytest.raises(httpx2.RemoteProtocolError):
            r.read()
    assert _stats(faulty, "fal")["fault_truncate"] == 1
    assert faulty.requests[-1]["fault"] == "truncate"


def test_truncate_hits_openai_url_results_but_not_generation_answers(
    faulty: EmulatorServer,
) -> None:
    faulty.set_faults("openai:truncate=1")
    r = httpx2.post(
        f"{faulty.root}/openai/v1/images/generations",
        json={
            "model": "my-proxy-model",
            "prompt": "x",
            "size": "256x256",
            "response_format": "url",
        },
        headers={"Authorization": "Bearer sk-x"},
        trust_env=False,
    )
    assert r.status_code == 200  # the generation answer itself is whole
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.get(r.json()["data"][0]["url"], trust_env=False)
    assert _stats(faulty, "openai")["fault_truncate"] == 1


def test_drip_sends_a_download_slowly(faulty: EmulatorServer) -> None:
    url = _fal_result(faulty)["images"][0]["url"]
    faulty.set_faults("fal:drip=1")
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(url, trust_env=False, timeout=httpx2.Timeout(5, read=0.3))
    assert _stats(faulty, "fal")["fault_drip"] == 1


def test_api_faults_spare_downloads_and_download_faults_spare_calls(
    faulty: EmulatorServer,
) -> None:
    url = _fal_result(faulty)["images"][0]["url"]
    faulty.set_faults("fal:429=1,5xx=0,reset=0")
    assert httpx2.get(url, trust_env=False).status_code == 200
    faulty.set_faults("fal:truncate=1,drip=0")
    assert _fal_submit(faulty).status_code == 200


# --------------------------------------------------------------------------- scenarios


def test_stuck_never_leaves_the_queue_and_cancel_removes_it(emulator: EmulatorServer) -> None:
    job = _fal_submit(emulator, "x [emulate:stuck]").json()
    time.sleep(0.3)
    status = httpx2.get(job["status_url"], headers=AUTH, trust_env=False).json()
    assert status["status"] == "IN_QUEUE"
    assert _fal_submit(emulator, "other").status_code == 200  # nothing else is held up
    assert httpx2.put(job["cancel_url"], headers=AUTH, trust_env=False).status_code == 202
    status = httpx2.get(job["status_url"], headers=AUTH, trust_env=False).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "client_cancelled"


def test_stuck_sync_call_never_answers(emulator: EmulatorServer) -> None:
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(
            f"{emulator.root}/openai/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "x [emulate:stuck]"},
            headers={"Authorization": "Bearer sk-x"},
            trust_env=False,
            timeout=httpx2.Timeout(5, read=0.3),
        )
    assert _stats(emulator, "openai")["submissions"] == 1  # accepted: it may be billed


def test_drip_scenario_slows_result_files_and_byte_carrying_answers(
    emulator: EmulatorServer,
) -> None:
    url = _fal_result(emulator, "x [emulate:drip]")["images"][0]["url"]
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(url, trust_env=False, timeout=httpx2.Timeout(5, read=0.3))
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(
            f"{emulator.root}/gemini/v1beta/models/gemini-nano-banana-2.1:generateContent",
            json={"contents": [{"parts": [{"text": "x [emulate:drip]"}]}]},
            headers={"x-goog-api-key": "k"},
            trust_env=False,
            timeout=httpx2.Timeout(5, read=0.3),
        )


def test_expire_scenario_turns_result_files_into_404(emulator: EmulatorServer) -> None:
    url = _fal_result(emulator, "x [emulate:expire=0.3]")["images"][0]["url"]
    assert httpx2.get(url, trust_env=False).status_code == 200
    time.sleep(0.35)
    assert httpx2.get(url, trust_env=False).status_code == 404
    url = _fal_result(emulator, "y [emulate:expire=0]")["images"][0]["url"]
    assert httpx2.get(url, trust_env=False).status_code == 404


# --------------------------------------------------------------------------- control


def test_faults_and_stats_through_the_control_api(emulator: EmulatorServer) -> None:
    with httpx2.Client(base_url=emulator.root, trust_env=False) as c:
        assert c.get("/_emulator/faults").json() == {"faults": ""}
        r = c.post("/_emulator/faults", json={"faults": "fal:429=1,seed=4"})
        assert r.json() == {"faults": "fal:429=1;seed=4"}
        assert c.post("/_emulator/faults", json={"faults": "fal:429=7"}).status_code == 400
        assert _fal_submit(emulator).status_code == 429
        stats = c.get("/_emulator/stats").json()
        fal = stats["providers"]["fal"]
        keys = ("submissions", "cancels", "fault_429", "fault_5xx", "fault_reset")
        assert {k: fal[k] for k in keys} == {
            "submissions": 0,
            "cancels": 0,
            "fault_429": 1,
            "fault_5xx": 0,
            "fault_reset": 0,
        }
        assert stats["fault_429"] == 1
        assert c.get("/_emulator").json()["options"]["faults"] == "fal:429=1;seed=4"
        c.post("/_emulator/faults", json={"faults": ""})
        assert _fal_submit(emulator).status_code == 200
