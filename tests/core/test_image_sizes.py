"""Image sizes and formats: parsing every spelling, FAL mapping, aspect ratios."""

from __future__ import annotations

import pytest

from twat_genai.core.config import ImageSizeWH
from twat_genai.core.errors import UsageError
from twat_genai.core.sizes import (
    ImageFormats,
    ImageSizes,
    nearest_aspect_ratio,
    parse_image_size,
    size_to_wh,
)
from twat_genai.providers.fal.sizes import FAL_PRESETS, fal_image_size

TABLE = [
    ("SQ", "square_hd", 1024, 1024, True),
    ("SQL", "square", 512, 512, True),
    ("SDV", "portrait_4_3", 768, 1024, True),
    ("HDV", "portrait_16_9", 576, 1024, True),
    ("SD", "landscape_4_3", 1024, 768, True),
    ("HD", "landscape_16_9", 1024, 576, True),
    ("PORT", None, 768, 1024, False),
    ("LAND", None, 1024, 768, False),
    ("WIDE", None, 1216, 832, False),
    ("ULTRA", None, 1344, 768, False),
]


def test_enum_has_exactly_the_ten_presets_without_aliases() -> None:
    """All ten SPEC names exist and no member is an alias of another."""
    assert [m.name for m in ImageSizes] == [row[0] for row in TABLE]
    assert len({m.value for m in ImageSizes}) == 10


@pytest.mark.parametrize(("name", "preset", "width", "height", "is_fal"), TABLE)
def test_preset_pixels_and_fal_preset(
    name: str, preset: str | None, width: int, height: int, is_fal: bool
) -> None:
    """Each preset has the SPEC pixels and FAL preset string (or none)."""
    size = ImageSizes[name]
    assert (size.width, size.height) == (width, height)
    assert size.wh == ImageSizeWH(width=width, height=height)
    assert FAL_PRESETS.get(size) == preset
    if is_fal:
        assert size.value == preset


@pytest.mark.parametrize(("name", "preset", "width", "height", "is_fal"), TABLE)
def test_preset_parses_by_name_any_case_and_by_value(
    name: str, preset: str | None, width: int, height: int, is_fal: bool
) -> None:
    """A preset is found by its name in any case and by its enum value."""
    member = ImageSizes[name]
    assert parse_image_size(name) is member
    assert parse_image_size(name.lower()) is member
    assert parse_image_size(f"  {name.title()} ") is member
    assert parse_image_size(member) is member
    if is_fal:
        assert parse_image_size(preset) is member
        assert parse_image_size(str(preset).upper()) is member


@pytest.mark.parametrize(("name", "preset", "width", "height", "is_fal"), TABLE)
def test_fal_mapping(name: str, preset: str | None, width: int, height: int, is_fal: bool) -> None:
    """FAL gets the preset string for its six presets and a width/height dict otherwise."""
    expected = preset if is_fal else {"width": width, "height": height}
    assert fal_image_size(name) == expected
    assert size_to_wh(name) == ImageSizeWH(width=width, height=height)


@pytest.mark.parametrize(
    "value",
    ["1024,768", "1024x768", "1024X768", " 1024 , 768 ", "1024 x 768", "1024×768",
     (1024, 768), [1024, 768], ("1024", "768"), (1024.0, 768.0),
     {"width": 1024, "height": 768}, ImageSizeWH(width=1024, height=768)],
)  # fmt: skip
def test_explicit_sizes(value: object) -> None:
    """Every explicit spelling of 1024x768 parses to the same ImageSizeWH."""
    assert parse_image_size(value) == ImageSizeWH(width=1024, height=768)
    assert fal_image_size(value) == {"width": 1024, "height": 768}


def test_explicit_size_equal_to_preset_pixels_stays_explicit() -> None:
    """A 'W,H' string is an explicit size even when it matches a FAL preset's pixels."""
    assert parse_image_size("1024,1024") == ImageSizeWH(width=1024, height=1024)
    assert fal_image_size("1024,1024") == {"width": 1024, "height": 1024}


@pytest.mark.parametrize("value", ["foo", "", "1024", "1024,768,3", "a,b", "1.5x2", (1,), (1, 2, 3),
                                   {"width": 5}, None, 1024, (True, 5), "square_hd_x"])  # fmt: skip
def test_bad_sizes_are_usage_errors_naming_the_presets(value: object) -> None:
    """Unparseable sizes raise UsageError listing the presets and the W,H form."""
    with pytest.raises(UsageError) as info:
        parse_image_size(value)
    message = str(info.value)
    assert message.startswith("invalid image size")
    assert "SQ, SQL, SDV, HDV, SD, HD, PORT, LAND, WIDE, ULTRA" in message
    assert "WIDTH,HEIGHT such as 1024,768" in message
    assert "\n" not in message


def test_bad_size_message_quotes_the_input() -> None:
    """The message names the rejected value."""
    with pytest.raises(UsageError, match="invalid image size 'foo'"):
        parse_image_size("foo")


@pytest.mark.parametrize("value", ["0,768", "1024,0", "-5,10", "16385,100", (100, 20000)])
def test_out_of_range_sides(value: object) -> None:
    """Sides must be within 1..16384."""
    with pytest.raises(UsageError, match="between 1 and 16384"):
        parse_image_size(value)


def test_max_side_is_accepted() -> None:
    """16384 itself is allowed."""
    assert size_to_wh("16384,1") == ImageSizeWH(width=16384, height=1)


def test_image_formats() -> None:
    """Formats carry their value, extension and MIME type, and parse loosely."""
    assert ImageFormats.JPG.value == "jpeg"
    assert ImageFormats.JPG.extension == "jpg"
    assert ImageFormats.PNG.extension == "png"
    assert ImageFormats.WEBP.mime == "image/webp"
    assert ImageFormats.JPG.mime == "image/jpeg"
    assert ImageFormats.parse("JPG") is ImageFormats.JPG
    assert ImageFormats.parse(".png") is ImageFormats.PNG
    assert ImageFormats.parse("image/webp") is ImageFormats.WEBP
    with pytest.raises(UsageError, match="invalid image format 'gif'"):
        ImageFormats.parse("gif")


def test_str_of_enums_is_the_value() -> None:
    """str() of a size or format gives the wire value, not the enum repr."""
    assert str(ImageSizes.HD) == "landscape_16_9"
    assert str(ImageFormats.PNG) == "png"


CHOICES = ["1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"]


@pytest.mark.parametrize(
    ("w", "h", "expected"),
    [(1024, 1024, "1:1"), (1920, 1080, "16:9"), (1024, 768, "4:3"), (768, 1024, "3:4"),
     (576, 1024, "9:16"), (2560, 1080, "21:9"), (1216, 832, "3:2"), (1000, 1010, "1:1")],
)  # fmt: skip
def test_nearest_aspect_ratio(w: int, h: int, expected: str) -> None:
    """The closest choice by log-ratio distance is returned."""
    assert nearest_aspect_ratio(w, h, CHOICES) == expected


def test_nearest_aspect_ratio_is_symmetric_in_log_space() -> None:
    """2:1 and 1:2 are equally far from 1:1, so the first listed wins the tie."""
    assert nearest_aspect_ratio(1, 1, ["2:1", "1:2"]) == "2:1"
    assert nearest_aspect_ratio(1, 1, ["1:2", "2:1"]) == "1:2"


def test_nearest_aspect_ratio_errors() -> None:
    """Empty choices, bad choices and non-positive sizes are usage errors."""
    with pytest.raises(UsageError, match="at least one choice"):
        nearest_aspect_ratio(1, 1, [])
    with pytest.raises(UsageError, match="invalid aspect ratio 'wide'"):
        nearest_aspect_ratio(1, 1, ["wide"])
    with pytest.raises(UsageError, match="must be positive"):
        nearest_aspect_ratio(0, 1, ["1:1"])
