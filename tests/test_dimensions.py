"""How each model family's fields map to pixels, counts and encodings."""

from __future__ import annotations

import pytest

from aiml_mock.dimensions import IMAGE_SIZE_PRESETS, image_count, image_dimensions, image_format, parse_size


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
