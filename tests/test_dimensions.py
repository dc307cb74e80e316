"""How each model family's fields map to pixels, counts and encodings."""

from __future__ import annotations

import pytest

from aiml_mock.core.contract import Profile, load_contract
from aiml_mock.core.dimensions import (
    FORMAT_ALIASES,
    IMAGE_FORMATS,
    IMAGE_SIZE_PRESETS,
    image_count,
    image_delivery,
    image_dimensions,
    image_format,
    parse_size,
)
from aiml_mock.core.generation import CONTENT_TYPES
from aiml_mock.core.urls import EXTENSIONS


def test_size_strings_parse() -> None:
    assert parse_size("1024x1792") == (1024, 1792)
    assert parse_size("adaptive") is None and parse_size("0x10") is None and parse_size("99999x1") is None


@pytest.mark.parametrize(("preset", "size"), list(IMAGE_SIZE_PRESETS.items()))
def test_image_size_presets(preset: str, size: tuple[int, int]) -> None:
    assert image_dimensions({"image_size": preset}, {}) == size


def test_image_size_object_uses_its_own_defaults() -> None:
    schema = {"image_size": {"anyOf": [{"type": "object", "properties": {"width": {"default": 1024},
                                                                         "height": {"default": 768}}}]}}
    assert image_dimensions({"image_size": {"width": 640}}, schema) == (640, 768)


@pytest.mark.parametrize(
    ("ratio", "resolution", "expected"),
    [("1:1", None, (1024, 1024)), ("16:9", "1K", (1360, 768)), ("9:16", "2K", (1536, 2736)),
     ("1:1", "4K", (4096, 4096))],
)
def test_aspect_ratio_with_resolution(ratio: str, resolution: str | None, expected: tuple[int, int]) -> None:
    params = {"aspect_ratio": ratio} | ({"resolution": resolution} if resolution else {})
    width, height = image_dimensions(params, {})
    assert (width, height) == expected
    assert width % 16 == 0 and height % 16 == 0


def test_counts_and_formats() -> None:
    assert image_count({"num_images": 3}) == 3 and image_count({"n": 2}) == 2 and image_count({}) == 1
    assert image_format({"output_format": "jpg"}) == "jpeg" and image_format({}) == "png"


def test_what_the_functions_answer_is_always_something_the_mock_serves() -> None:
    assert image_format({"output_format": "b64_json"}) == "png" and image_format({"output_format": "TIF"}) == "tiff"
    assert image_delivery({"response_format": "png"}) == "url"
    assert image_delivery({"response_format": "b64_json"}) == image_delivery({"convert_base64_to_url": False})
    assert image_count({"n": 0}) == 1


@pytest.mark.parametrize("profile", ["aimlapi", "openai"])
def test_every_format_and_delivery_a_schema_allows_is_served_as_itself(profile: Profile) -> None:
    """No schema value falls back silently: each `output_format` / `response_format` the contract allows is one
    the mock renders and delivers (with the aliases), so the fallbacks above are never taken."""
    assert set(IMAGE_FORMATS) == set(EXTENSIONS) == set(CONTENT_TYPES)
    for spec in load_contract(profile).models.values():
        for value in spec.enum("output_format"):
            assert image_format({"output_format": value}) == FORMAT_ALIASES.get(value, value), (spec.id, value)
        for value in spec.enum("response_format"):
            assert image_delivery({"response_format": value}) == value, (spec.id, value)
