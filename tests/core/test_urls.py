"""Input URLs: well formed and http(s), or one UsageError line before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from twat_genai.core.errors import UsageError
from twat_genai.core.inputs import ImageInput
from twat_genai.core.urls import check_http_url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com:99999/a.png", "malformed port"),
        ("http://host:abc/x.png", "malformed port"),
        ("https://host:-1/x.png", "malformed port"),
        ("https://host:0/x.png", "malformed port"),
        ("http:///x.png", "has no host"),
        ("https://:8080/x.png", "has no host"),
        ("https://user@/x.png", "has no host"),
        ("http://[::1/x.png", "is malformed"),
        ("ftp://example.com/x.png", "the scheme 'ftp://'"),
        ("file:///tmp/x.png", "the scheme 'file://'"),
        ("s3://bucket/x.png", "the scheme 's3://'"),
    ],
)
def test_bad_input_urls_are_one_usage_error_line(url: str, problem: str) -> None:
    """A malformed port, no host or a scheme other than http(s) is a UsageError naming the URL
    and the problem, with the pydantic error as its cause."""
    with pytest.raises(UsageError) as info:
        ImageInput.from_any(url)
    message = str(info.value)
    assert problem in message and url[:40] in message
    assert "\n" not in message
    assert isinstance(info.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",
        "https://example.com:8443/a.png?x=1#y",
        "HTTPS://EXAMPLE.COM/A.PNG",
        "http://127.0.0.1:65535/a.png",
        "http://[::1]:8080/a.png",
        "https://host:/a.png",
    ],
)
def test_good_urls_are_kept_as_given(url: str) -> None:
    """Well-formed http(s) URLs (ports, IPv6, query strings, any case) are accepted unchanged."""
    assert ImageInput.from_any(url).url == url
    assert check_http_url(url) == url


def test_data_uris_and_paths_stay_allowed(tmp_path: Path) -> None:
    """``data:`` URIs and local paths (also one named like ``C://x``) are not URLs to check."""
    assert ImageInput.from_any("data:image/png;base64,AAAA").url == "data:image/png;base64,AAAA"
    assert ImageInput.from_any(str(tmp_path / "a.png")).path == tmp_path / "a.png"
    assert ImageInput.from_any("C://pictures/a.png").path == Path("C://pictures/a.png")


def test_direct_construction_refuses_the_same_urls() -> None:
    """``ImageInput(url=...)`` runs the same check (as pydantic's ValidationError, a ValueError)."""
    with pytest.raises(ValueError, match="malformed port"):
        ImageInput(url="http://host:abc/x.png")


def test_scheme_message_names_the_other_accepted_forms() -> None:
    """The scheme error says what to use instead."""
    with pytest.raises(UsageError, match="use an http\\(s\\) URL, a data: URI or a local path"):
        ImageInput.from_any("ftp://example.com/x.png")
