"""Prompt grammar expansion and Midjourney-style parsing."""

from __future__ import annotations

import pytest

from twat_genai.core.errors import UsageError
from twat_genai.core.prompt import (
    MidjourneyPrompt,
    apply_midjourney,
    count_expansions,
    expand_prompts,
    parse_midjourney,
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a cat", ["a cat"]),
        ("  a cat  ", ["a cat"]),
        ("a cat; a dog", ["a cat", "a dog"]),
        (" ;a;; b ;", ["a", "b"]),
        ("a {red,blue} {car,bike}", ["a red car", "a red bike", "a blue car", "a blue bike"]),
        ("{a,{b,c}} x", ["a x", "b x", "c x"]),
        ("{{a,b},{c,{d,e}}}", ["a", "b", "c", "d", "e"]),
        ("{ red , blue } car", ["red car", "blue car"]),
        ("a {x,,y} b", ["a x b", "a b", "a y b"]),
        ("a {x,} b", ["a x b"]),
        ("a {x,,} b", ["a x b", "a b"]),
        ("a {,b} c", ["a c", "a b c"]),
        ("{,b} c", ["c", "b c"]),
        ("a {,b}", ["a", "a b"]),
        ("a {,b} {,c} d", ["a d", "a c d", "a b d", "a b c d"]),
        ("a{,b}c", ["ac", "abc"]),
        (r"a \}b", ["a }b"]),
        (r"x\} {y,z}", ["x} y", "x} z"]),
        (r"a\, b\{c\}\;d\\e", ["a, b{c};d\\e"]),
        (r"{a\,b,c}", ["a,b", "c"]),
        (r"a\q", [r"a\q"]),
        ("{p;q,r}", ["p;q", "r"]),
        ("{a,b}; {c,d}", ["a", "b", "c", "d"]),
        ("a  b", ["a  b"]),
    ],
)
def test_expand(source: str, expected: list[str]) -> None:
    """Each grammar example expands to exactly the listed prompts, in order."""
    assert expand_prompts(source) == expected
    assert count_expansions(source) == len(expected)


def test_empty_options_are_kept_three_ways() -> None:
    """{x,,y} yields three prompts, one of them made only of the empty option."""
    assert expand_prompts("{x,,y}") == ["x", "", "y"]


def test_empty_braces_are_a_single_empty_option() -> None:
    """{} is one empty option, not zero options."""
    assert expand_prompts("a {} b") == ["a b"]


def test_list_items_are_not_split_on_semicolon() -> None:
    """A list keeps ';' literal but still expands braces in each item."""
    assert expand_prompts(["a; b", "{c,d}", "  "]) == ["a; b", "c", "d"]
    assert count_expansions(["a; b", "{c,d}"]) == 3


def test_non_string_list_item_is_a_usage_error() -> None:
    """A list must hold strings."""
    with pytest.raises(UsageError, match="prompts must be strings"):
        expand_prompts(["a", 3])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("source", "brace", "position"),
    [
        ("{a", "{", 1),
        ("ab {x,y", "{", 4),
        ("a; b {c", "{", 6),
        ("a }b", "}", 3),
        ("x} {y,z}", "}", 2),
        ("{a,b}} c", "}", 6),
        ("a; b}", "}", 5),
        ("{a,{b}", "{", 1),
    ],
)
def test_unmatched_brace_names_its_1_based_position(source: str, brace: str, position: int) -> None:
    """An unmatched '{' or '}' is a UsageError naming its 1-based position and the escape."""
    with pytest.raises(UsageError) as info:
        expand_prompts(source)
    message = str(info.value)
    assert f"unmatched '{brace}' at character {position} (1-based)" in message
    assert f"escape it as \\{brace}" in message
    assert "\n" not in message
    with pytest.raises(UsageError):
        count_expansions(source)  # the count preview refuses it too


def test_escaped_brace_is_not_unmatched() -> None:
    """An escaped '{' needs no closing brace, an escaped '}' no opening one."""
    assert expand_prompts(r"a \{b") == ["a {b"]
    assert expand_prompts(r"a \}b {c\},d}") == ["a }b c}", "a }b d"]


def test_limit_is_enforced_with_the_count() -> None:
    """Beyond the limit the error carries the total count and the limit."""
    source = "{a,b,c} {d,e,f} {g,h}"
    assert len(expand_prompts(source, limit=18)) == 18
    with pytest.raises(UsageError, match="expands to 18 prompts, more than the limit of 17"):
        expand_prompts(source, limit=17)


def test_limit_counts_across_parts() -> None:
    """The limit applies to the total over all ';' parts."""
    with pytest.raises(UsageError, match="expands to 4 prompts"):
        expand_prompts("{a,b}; {c,d}", limit=3)


def test_huge_expansion_is_refused_without_materialising() -> None:
    """A 10^30 expansion is counted and refused at once, not generated."""
    source = " ".join(["{a,b,c,d,e,f,g,h,i,j}"] * 30)
    assert count_expansions(source) == 10**30
    with pytest.raises(UsageError, match=f"expands to {10**30} prompts"):
        expand_prompts(source)


def test_default_limit_is_1000() -> None:
    """1000 prompts pass by default and 1001 do not."""
    ten = "{0,1,2,3,4,5,6,7,8,9}"
    assert len(expand_prompts(ten * 3)) == 1000
    with pytest.raises(UsageError, match="1001 prompts"):
        expand_prompts(ten * 3 + "; extra")


def test_deep_nesting_is_refused_cleanly() -> None:
    """Pathological nesting is a UsageError, not a RecursionError."""
    with pytest.raises(UsageError, match="nests braces deeper"):
        expand_prompts("{" * 500 + "}" * 500)


# --- Midjourney ---------------------------------------------------------------------------


def test_midjourney_full_example() -> None:
    """URLs, weights, mapped, known and unknown parameters are all separated."""
    mj = parse_midjourney(
        "https://x.test/a.png https://x.test/b.JPG?x=1 cat::2 dog::0.5 "
        "--ar 16:9 --no red, blue --seed 42 --v 6 --foo bar --tile"
    )
    assert isinstance(mj, MidjourneyPrompt)
    assert mj.image_urls == ["https://x.test/a.png", "https://x.test/b.JPG?x=1"]
    assert mj.weights == [("cat", 2.0), ("dog", 0.5)]
    assert mj.text == "cat::2 dog::0.5 --foo bar"
    assert mj.aspect_ratio == "16:9"
    assert mj.negative == "red, blue"
    assert mj.seed == 42
    assert mj.params == {
        "ar": "16:9", "no": "red, blue", "seed": "42", "v": "6", "foo": "bar", "tile": None,
    }  # fmt: skip
    assert any("--v" in w and "dropped" in w for w in mj.warnings)
    assert any("--tile" in w and "dropped" in w for w in mj.warnings)
    assert any("--foo" in w and "stays in the prompt" in w for w in mj.warnings)


def test_midjourney_plain_prompt_is_unchanged() -> None:
    """A prompt with no Midjourney syntax comes back as its text, with nothing else set."""
    mj = parse_midjourney("a well-known cat -- sitting")
    assert mj == MidjourneyPrompt(text="a well-known cat -- sitting")


def test_midjourney_weights_trailing_part_gets_one() -> None:
    """A last part without a weight gets 1.0, and a missing number after '::' is 1.0."""
    assert parse_midjourney("hot dog::1.5 food").weights == [("hot dog", 1.5), ("food", 1.0)]
    assert parse_midjourney("a:: b::-0.5").weights == [("a", 1.0), ("b", -0.5)]
    assert parse_midjourney("cat").weights == []


def test_midjourney_flag_values() -> None:
    """A flag followed by another flag or nothing has value None; em dashes count as '--'."""
    mj = parse_midjourney("cat --tile --stylize 250 —ar 2:3")
    assert mj.params == {"tile": None, "stylize": "250", "ar": "2:3"}
    assert mj.aspect_ratio == "2:3"
    assert mj.text == "cat"


def test_midjourney_aspect_alias_and_multiple_no() -> None:
    """--aspect works like --ar and several --no values are joined."""
    mj = parse_midjourney("cat --aspect 4:3 --no hats --no red, blue")
    assert mj.aspect_ratio == "4:3"
    assert mj.negative == "hats, red, blue"


def test_midjourney_url_not_leading_stays_in_text() -> None:
    """Only leading image URLs are taken; a URL later in the text stays."""
    mj = parse_midjourney("see https://x.test/a.png now")
    assert mj.image_urls == []
    assert mj.text == "see https://x.test/a.png now"


def test_midjourney_non_image_url_stays_in_text() -> None:
    """A leading URL without an image extension is text."""
    mj = parse_midjourney("https://x.test/page cat")
    assert mj.image_urls == []
    assert mj.text == "https://x.test/page cat"


@pytest.mark.parametrize(
    ("source", "match"),
    [("cat --ar wide", "invalid --ar 'wide'"), ("cat --ar", "invalid --ar None"),
     ("cat --ar 0:1", "invalid --ar"), ("cat --seed x", "invalid --seed 'x'"),
     ("cat --seed", "invalid --seed None")],
)  # fmt: skip
def test_midjourney_bad_mapped_values(source: str, match: str) -> None:
    """Bad --ar and --seed values are usage errors quoting the value."""
    with pytest.raises(UsageError, match=match):
        parse_midjourney(source)


def test_apply_midjourney_maps_fields() -> None:
    """apply_midjourney returns the clean prompt, only the fields found, and warnings."""
    prompt, fields, warnings = apply_midjourney("a cat --ar 16:9 --no dogs --seed 7 --q 2")
    assert prompt == "a cat"
    assert fields == {"aspect_ratio": "16:9", "negative_prompt": "dogs", "seed": 7}
    assert len(warnings) == 1 and "--q" in warnings[0]


def test_apply_midjourney_only_set_keys() -> None:
    """Without parameters no fields are returned."""
    assert apply_midjourney("a cat") == ("a cat", {}, [])


def test_apply_midjourney_weights() -> None:
    """Positive-weight parts form the prompt; non-positive ones join the negative prompt."""
    prompt, fields, warnings = apply_midjourney("cat::2 dog::-0.5 hat --no red --foo")
    assert prompt == "cat, hat --foo"
    assert fields == {"negative_prompt": "red, dog"}
    assert warnings == [
        "--foo is not a known parameter; it stays in the prompt",
        "multi-prompt weights are not sent to providers; the prompt is 'cat, hat'",
    ]


def test_apply_prompt_parameters_maps_by_what_the_provider_takes() -> None:
    from twat_genai.core.models import ImageGenerationRequest
    from twat_genai.core.prompt import apply_prompt_parameters

    request = ImageGenerationRequest(prompt="a bay --ar 21:9 --no boats", negative_prompt="blur")
    sized, _ = apply_prompt_parameters(request, frozenset({"size"}))
    assert (sized.prompt, sized.negative_prompt, sized.aspect_ratio) == (
        "a bay",
        "blur, boats",
        None,
    )
    assert sized.size is not None and (sized.size.width, sized.size.height) == (1568, 672)
    ratio, _ = apply_prompt_parameters(request, frozenset({"size", "aspect_ratio"}))
    assert (ratio.aspect_ratio, ratio.size) == ("21:9", None)
    plain = ImageGenerationRequest(prompt="a bay at dusk")
    assert apply_prompt_parameters(plain, frozenset()) == (plain, [])
    _, warned = apply_prompt_parameters(
        ImageGenerationRequest(prompt="https://x.test/a.png a bay --ar 1:1"), frozenset({"size"})
    )
    assert any("--input_image" in w for w in warned)


def test_double_colons_inside_words_are_text_not_weights() -> None:
    ordinary = (
        "std::vector poster", "see https://a.test/x::y now", "a::b", "a clock at 10::30 pm",
        "IPv6 fe80::1 on a screen", "f :: Int -> Int", "::1 localhost",
    )  # fmt: skip
    for prompt in ordinary:
        assert apply_midjourney(prompt) == (prompt, {}, [])
    assert parse_midjourney("cat::.5 dog").weights == [("cat", 0.5), ("dog", 1.0)]
    assert parse_midjourney("hot:: dog").weights == [("hot", 1.0), ("dog", 1.0)]


def test_aspect_ratio_is_not_forced_on_requests_without_a_size() -> None:
    from twat_genai.core.models import ImageGenerationRequest, VideoGenerationRequest
    from twat_genai.core.prompt import apply_prompt_parameters

    video = VideoGenerationRequest(prompt="waves --ar 9:16")
    kept, warnings = apply_prompt_parameters(video, frozenset({"size"}))
    assert kept.prompt == "waves" and not hasattr(kept, "size")
    assert warnings == ["--ar 9:16 is not used here: this command sets its own size"]
    canvas = ImageGenerationRequest(prompt="a bay --ar 16:9")
    same, warned = apply_prompt_parameters(canvas, frozenset())  # outpaint: no size to take
    assert same.size is None and warned
