"""``parse_retry_after``: what the server asked for, and nothing when it asked for nonsense."""

from __future__ import annotations

import math

import pytest

from twat_genai.transport.retry import parse_retry_after


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_non_finite_retry_after_counts_as_absent(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None
    assert parse_retry_after({"retry-after-ms": value}) is None


def test_non_finite_header_falls_back_to_the_next_source() -> None:
    assert parse_retry_after({"retry-after-ms": "nan", "retry-after": "3"}) == 3.0
    body = {
        "error": {
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
        }
    }
    assert parse_retry_after({"retry-after": "inf"}, body) == 7.0


def test_non_finite_google_retry_delay_counts_as_absent() -> None:
    for delay in ("nans", "infs"):
        body = {"error": {"details": [{"@type": "x.RetryInfo", "retryDelay": delay}]}}
        assert parse_retry_after({}, body) is None


def test_finite_values_are_kept() -> None:
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "-5"}) == 0.0
    assert parse_retry_after({"retry-after": "-1"}) == 0.0
    assert parse_retry_after({}) is None
    value = parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert value == 0.0 and math.isfinite(value)
