"""Redaction masks credentials, never the words of a prompt: the generic patterns match only
credential-shaped tokens, while known secret values are masked wherever they appear."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from twat_genai.core.models import ImageGenerationRequest, ProviderResponse
from twat_genai.core.redact import MASK, redact, redact_obj, register_secret
from twat_genai.core.writer import OutputWriter
from twat_genai.jobs.generate import generate
from twat_genai.providers.fal import FalProvider

CASTLE = "a standard bearer carrying banners, basic shapes, key visual of a castle"

#: Prompts full of the scheme and header words, with nothing secret in them.
PROMPTS = [
    CASTLE,
    "Key visual: a Bearer of gifts, Basic geometry, bold colours",
    "Key art for a Basic-Income poster, Bearer bonds scattered on the table",
    "authorization: granted by the king; x-api-key = golden",
    "The Key to the kingdom, the Bearer of bad news, Basic instinct",
    "key=value pairs drawn as a diagram, bearer token cartoon, basic-auth sign",
]


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_prompts_are_not_redacted(prompt: str) -> None:
    assert redact(prompt) == prompt
    assert redact_obj({"prompt": prompt, "parts": [prompt]}) == {
        "prompt": prompt,
        "parts": [prompt],
    }


@pytest.mark.parametrize("prompt", PROMPTS)
def test_prompt_survives_a_sidecar_round_trip(tmp_path: Path, prompt: str) -> None:
    media, side = OutputWriter(tmp_path).write(
        _png(), ident="r1", metadata={"provider": "fal", "prompt": prompt, "note": [prompt]}
    )
    record = json.loads(side.read_text(encoding="utf-8"))
    assert record["prompt"] == prompt and record["note"] == [prompt]
    assert prompt.encode() in media.read_bytes()  # the embedded copy too


@pytest.mark.usefixtures("fal_env")
def test_castle_prompt_is_kept_through_a_provider_call(tmp_path: Path) -> None:
    """Real HTTP against the fal emulator: the sidecar holds the prompt as typed."""

    async def run() -> ProviderResponse:
        async with FalProvider() as provider:
            request = ImageGenerationRequest(prompt=CASTLE, model="fal-ai/flux-lora")
            return await generate(provider, request, OutputWriter(tmp_path / "out"))

    response = asyncio.run(run())
    (file,) = response.files
    assert file.metadata_path is not None
    record = json.loads(file.metadata_path.read_text(encoding="utf-8"))
    assert record["prompt"] == CASTLE and record["original_prompt"] == CASTLE
    assert record["parameters"]["prompt"] == CASTLE


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer sk-abc123def456ghi789jkl", "sk-abc123def456ghi789jkl"),
        ("Authorization: Bearer abc123def456ghi789jkl0", "abc123def456ghi789jkl0"),
        ("authorization: bearer abc123def456", "abc123def456"),
        ("sent Key fal-0123456789abcdef:secret to fal", "fal-0123456789abcdef:secret"),
        (
            "Key 1b6c8f3e-7d2a-4a7b-9c1d-0e2f3a4b5c6d:0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "1b6c8f3e-7d2a-4a7b-9c1d-0e2f3a4b5c6d:0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ),
        ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("{'authorization': 'Key id-42:secret-99'}", "id-42:secret-99"),
        ('"x-goog-api-key": "gk_0123456789abcdef"', "gk_0123456789abcdef"),
        ("x-api-key=proxy_token_2024", "proxy_token_2024"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature", "eyJhbGciOiJIUzI1NiJ9"),
        ("GET /v1/x?key=plainvalue&alt=json", "plainvalue"),
        ("cpk_abc.def.ghi in a log", "cpk_abc.def.ghi"),
        ("AIzaSyA0123456789abcdefghijklmnop", "AIzaSyA0123456789abcdefghijklmnop"),
    ],
)
def test_credential_shaped_tokens_are_masked(text: str, secret: str) -> None:
    clean = redact(text)
    assert secret not in clean and MASK in clean


def test_scheme_words_are_kept_only_the_token_goes() -> None:
    assert redact("Authorization: Bearer sk-abc123def456ghi789jkl") == "Authorization: Bearer ***"
    assert redact("Key fal-0123456789abcdef:secret") == "Key ***"


def test_a_registered_key_inside_a_prompt_is_masked(tmp_path: Path) -> None:
    key = "plainwordsecret"  # no credential shape at all: only registration can catch it
    register_secret(key)
    prompt = f"{CASTLE}, signed {key}"
    assert redact(prompt) == f"{CASTLE}, signed {MASK}"
    media, side = OutputWriter(tmp_path).write(
        _png(), ident="r2", metadata={"prompt": prompt, "headers": {"Authorization": "Key x"}}
    )
    text = side.read_text(encoding="utf-8")
    assert key not in text and key.encode() not in media.read_bytes()
    record = json.loads(text)
    assert record["prompt"] == f"{CASTLE}, signed {MASK}"
    assert record["headers"] == {"Authorization": MASK}


def test_each_part_of_an_id_secret_key_is_masked_alone() -> None:
    """A fal key ``id:secret`` is masked whole, and an error echoing only its id or only its
    secret is masked too; a part too short to be unambiguous is left alone."""
    register_secret("keyid-7f3a9c:sEcReT-pArT-4e1d88")
    assert (
        redact("401: unknown secret sEcReT-pArT-4e1d88 for key")
        == "401: unknown secret *** for key"
    )
    assert redact("no such key id keyid-7f3a9c") == "no such key id ***"
    assert redact("Key keyid-7f3a9c:sEcReT-pArT-4e1d88") == "Key ***"
    register_secret("abc:longer-secret-part-99")
    assert redact("abc def longer-secret-part-99") == "abc def ***"


def test_each_part_of_an_environment_key_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for a key from the environment."""
    monkeypatch.setenv("FAL_KEY", "envkeyid0:envsecret-000111")
    assert redact("bad credentials: envsecret-000111") == "bad credentials: ***"
    assert redact("envkeyid0 is revoked") == "*** is revoked"


def test_an_environment_key_inside_a_prompt_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "opensesame")
    assert redact("say opensesame to the castle") == f"say {MASK} to the castle"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("X-API-Key: abcdefghijkl", "X-API-Key: ***"),
        (
            "key 1b2c3d4e-1234-4abc-8def-0123456789ab:0123456789abcdef0123456789abcdef",
            "key ***",
        ),
        ('{"api_key": "zzzzzzzzzzzz"}', '{"api_key": "***"}'),
        ("https://x.test/y?access_token=abcdef", "https://x.test/y?access_token=***"),
    ],
)
def test_header_values_and_known_key_shapes_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "prompt",
    ["a bearer of the 12th-century-knight banner", "the key to success is a 12-step plan"],
)
def test_words_near_scheme_names_in_prompts_survive(prompt: str) -> None:
    assert redact(prompt) == prompt


def test_only_text_without_any_pattern_mark_skips_the_patterns() -> None:
    """The shortcut for text with none of the marks a pattern needs gives what running every
    pattern gives, on credentials of each shape and on ordinary text."""
    from twat_genai.core import redact as module

    def every_pattern(text: str) -> str:
        for pattern in module._PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        text = module._HEADER.sub(lambda m: module._mask_token(m, 1, 8, any_shape=True), text)
        return module._SCHEME.sub(lambda m: module._mask_token(m, 2, 12), text)

    samples = [
        *PROMPTS,
        "cpk_abcdef0123456789.xyz",
        "token sk-proj_ABCDEFGH12345678",
        "AIzaSyA0123456789abcdefghijklmno",
        "https://x.test/a?key=abc123secret&b=1",
        "0123abcd-0123-4567-89ab-0123456789ab:0123456789abcdef0123456789abcdef",
        'api_key = "s3cr3t-value-99"',
        "Authorization: Key abcd1234:efgh5678",
        "Bearer eyJhbGciOi.J9abc_123",
        "fal-ai/flux-lora",
        "square_hd 1024x1024 seed 42",
    ]
    for text in samples:
        assert module._redact(text, []) == every_pattern(text), text
