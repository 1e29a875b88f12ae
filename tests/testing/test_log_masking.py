"""The emulator's request log never shows a secret passed as a query parameter."""

from __future__ import annotations

import httpx2

from twat_genai.testing import running_emulator


def test_key_query_parameter_is_masked_by_name() -> None:
    """A ``?key=`` value unknown to the redactor is still masked, because of its name."""
    with running_emulator(port=0) as server:
        url = f"{server.root}/gemini/v1beta/models/m:generateContent?key=plain-value-42&alt=json"
        with httpx2.Client(trust_env=False) as client:
            client.post(url, json={"contents": []})
            log = client.get(f"{server.root}/_emulator/requests").json()
    assert log, "the request was logged"
    query = log[-1]["query"]
    assert query["key"] == "***"
    assert query["alt"] == "json"
    assert "plain-value-42" not in str(log)
