"""The Gemini image models the emulator serves, the ones Google shut down, and the request
fields the API knows: the emulator's own table, written from Google's pages (never from the
project's catalog), so it refuses what the real API refuses.

Sources: ai.google.dev/gemini-api/docs/deprecations and /changelog (copies up to 2026-10-08),
the Google Cloud model pages, and google-genai ``types.py`` (``GenerationConfig``,
``ImageConfig``) with ``models.py`` (what the SDK sends in Gemini API mode), checked 2026-11-30.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Aspect ratio -> output pixels at 1K (Google's table for the image models; the 1K sizes of
#: the four long ratios are [uncertain]: Google gives their token counts, not their pixels).
RATIO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
    "1:4": (512, 2048),
    "4:1": (2048, 512),
    "1:8": (384, 3072),
    "8:1": (3072, 384),
}
RATIOS_10 = tuple(list(RATIO_SIZES)[:10])
RATIOS_14 = tuple(RATIO_SIZES)


@dataclass(frozen=True)
class GeminiModel:
    """One served image model: the aspect ratios and ``imageSize`` values it takes."""

    id: str
    ratios: tuple[str, ...]
    sizes: tuple[str, ...]
    deprecated: str | None = None  # still served after this date


#: Served image models (generateContent with IMAGE output).
MODELS: dict[str, GeminiModel] = {
    m.id: m
    for m in (
        # GA 2026-10-06 ("Nano Banana 2.1"): 14 ratios, 1K/2K/4K, no 512 (changelog).
        GeminiModel("gemini-nano-banana-2.1", RATIOS_14, ("1K", "2K", "4K")),
        # GA 2026-05-28, deprecated 2026-10-06 in favour of 2.1, still served (deprecations);
        # 512 px size and the four long ratios per the Google Cloud model page.
        GeminiModel(
            "gemini-3.1-flash-image", RATIOS_14, ("512", "1K", "2K", "4K"), deprecated="2026-10-06"
        ),
        # GA 2026-05-28: 10 ratios, 1K/2K/4K.
        GeminiModel("gemini-3-pro-image", RATIOS_10, ("1K", "2K", "4K")),
        # GA 2026-06-30 ("Nano Banana 2 Lite"): 1K only. Google says "14" ratios but lists 10:
        # [uncertain], so all 14 are accepted.
        GeminiModel("gemini-3.1-flash-lite-image", RATIOS_14, ("1K",)),
    )
}

#: Shut-down ids -> the date (deprecations page; the API answers 404 NOT_FOUND for them).
RETIRED: dict[str, str] = {
    "gemini-3.1-flash-image-preview": "2026-06-25",
    "gemini-3-pro-image-preview": "2026-06-25",
    # "earliest possible" shutdown date on the deprecations page.
    "gemini-2.5-flash-image": "2026-10-02",
    "gemini-2.5-flash-image-preview": "2026-10-02",
}
#: Id prefixes shut down as a family: Imagen 4 (changelog, 2026-08-17).
RETIRED_PREFIXES: dict[str, str] = {"imagen-4.0-": "2026-08-17"}

#: ``generationConfig`` fields of the REST API, camelCase (snake_case is accepted too): the
#: fields google-genai's ``GenerationConfig`` sends in Gemini API mode.
GENERATION_CONFIG_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTranscriptionConfig",
    }
)
#: ``imageConfig`` fields of the Gemini API (the SDK refuses the Vertex-only ones,
#: personGeneration, prominentPeople, outputMimeType, outputCompressionQuality and
#: imageOutputOptions, before sending; the API does not know them).
IMAGE_CONFIG_FIELDS = frozenset({"aspectRatio", "imageSize"})


def camel(name: str) -> str:
    """``snake_case`` -> ``camelCase`` (the REST API takes both spellings)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def retired_on(model: str) -> str | None:
    """The shutdown date of a shut-down model id, else ``None``."""
    if model in RETIRED:
        return RETIRED[model]
    return next((d for p, d in RETIRED_PREFIXES.items() if model.startswith(p)), None)


def not_found_message(model: str, version: str) -> str:
    """The API's wording for a model it does not serve (shut down or never existed)."""
    return (
        f"models/{model} is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )


def unknown_fields(obj: dict[str, object], known: frozenset[str]) -> list[str]:
    """Keys of ``obj`` that are not ``known`` under either spelling."""
    return [k for k in obj if camel(k) not in known]
