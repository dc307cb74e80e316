"""How a request's fields say what to render: pixel size, how many images, which encoding, how delivered.

Models say the size in different ways (`size: "1024x1792"`, `image_size` presets, `"2K"` or `{width, height}`,
`aspect_ratio` with `resolution`, `max_resolution`); the count as `n` or `num_images`; the encoding as
`output_format`; the delivery as `response_format` or `convert_base64_to_url`. These rules are generic over
the field names, so a new model needs only its schema in the contract. docs/models.md (its prose
part) documents the mapping; keep the two in step.

Every function here takes `params`: the request's fields *that its model defines*, validated against the model's
schema, with its defaults filled in (`validation.validate_request` builds them). A field the model does not
define is not among them, so `output_format` on DALL·E or `response_format` on FLUX changes nothing. What a
function returns is still one of the values the mock can serve, whatever a future schema lets through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DEFAULT_SIDE = 1024
MAX_SIDE = 8192

# fal.ai's presets, which the FLUX/Qwen/SD/Seedream-v4 schemas on the provider share.
IMAGE_SIZE_PRESETS: Mapping[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

# A resolution name is a side length: alone it gives a square, with an aspect ratio the same pixel area.
RESOLUTION_SIDES: Mapping[str, int] = {"1k": 1024, "1.5k": 1536, "2k": 2048, "4k": 4096}

FORMAT_ALIASES: Mapping[str, str] = {"jpg": "jpeg", "tif": "tiff"}
IMAGE_FORMATS = ("png", "jpeg", "webp", "tiff")  # what the mock renders and serves (urls.EXTENSIONS)
DELIVERIES = ("url", "b64_json")


def parse_size(text: str) -> tuple[int, int] | None:
    """`"1024x1792"` -> (1024, 1792); anything else -> None."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    w, h = int(width), int(height)
    return (w, h) if 0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE else None


def size_rule_problem(size: str, rule: Mapping[str, Any]) -> str | None:
    """What is wrong with a `WxH` under a free-size rule (`multiple`, `max_ratio`, `max_side`, `max_pixels`,
    `min_pixels`: gpt-image-2's), or None when it is fine (`auto` always is)."""
    if size == "auto":
        return None
    width, _, height = size.partition("x")
    if not width.isdigit() or not height.isdigit():
        return f"size must be auto or WIDTHxHEIGHT, not {size!r}"
    w, h = int(width), int(height)
    multiple = int(rule.get("multiple", 1))
    if w % multiple or h % multiple:
        return f"both sides of the size must be multiples of {multiple} (got {w}x{h})"
    ratio = float(rule.get("max_ratio", math.inf))
    if max(w, h) > ratio * min(w, h):
        return f"the aspect ratio must be between 1:{ratio:g} and {ratio:g}:1 (got {w}x{h})"
    if max(w, h) > int(rule.get("max_side", MAX_SIDE)):
        return f"the longest side may be at most {rule.get('max_side', MAX_SIDE)} pixels (got {w}x{h})"
    if w * h > int(rule.get("max_pixels", MAX_SIDE * MAX_SIDE)):
        return f"at most {rule['max_pixels']} pixels (3840x2160) are allowed (got {w}x{h}, {w * h})"
    if w * h < int(rule.get("min_pixels", 0)):
        return f"at least {rule['min_pixels']} pixels are needed (got {w}x{h}, {w * h})"
    return None


def resolution_side(value: Any) -> int | None:
    """`"2K"` -> 2048 (any case); None for anything that is not a resolution name."""
    return RESOLUTION_SIDES.get(value.lower()) if isinstance(value, str) else None


def _from_ratio(ratio: str, base: int) -> tuple[int, int]:
    """About `base x base` pixels in the given `w:h` shape, each side a multiple of 16."""
    left, sep, right = ratio.partition(":")
    try:
        value = float(left) / float(right) if sep else 1.0
    except (ValueError, ZeroDivisionError):
        value = 1.0
    if not math.isfinite(value) or value <= 0:
        value = 1.0
    scale = math.sqrt(value)
    return _round16(base * scale), _round16(base / scale)


def _round16(value: float) -> int:
    return max(16, min(MAX_SIDE, int(round(value / 16)) * 16))


def _side(value: Any, fallback: int) -> int:
    """A width or height as sent (some schemas type them `number`): rounded, kept within 1..MAX_SIDE."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return fallback
    return max(1, min(MAX_SIDE, int(round(value))))


def object_defaults(field_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults of an object-valued field's properties, wherever its `anyOf` branch puts them."""
    branches = [field_schema, *field_schema.get("anyOf", ()), *field_schema.get("oneOf", ())]
    return {
        name: prop["default"]
        for branch in branches
        for name, prop in branch.get("properties", {}).items()
        if "default" in prop
    }


def _image_size(value: Any, field_schema: Mapping[str, Any]) -> tuple[int, int] | None:
    """`image_size` as a preset, a resolution name or `{width, height}`; absent: the object's own defaults."""
    if isinstance(value, str):
        if value in IMAGE_SIZE_PRESETS:
            return IMAGE_SIZE_PRESETS[value]
        side = resolution_side(value)
        return (side, side) if side else None
    defaults = object_defaults(field_schema)
    if isinstance(value, Mapping):
        width = _side(value.get("width", defaults.get("width")), DEFAULT_SIDE)
        return width, _side(value.get("height", defaults.get("height")), DEFAULT_SIDE)
    if value is None and "width" in defaults and "height" in defaults:
        return _side(defaults["width"], DEFAULT_SIDE), _side(defaults["height"], DEFAULT_SIDE)
    return None


def image_dimensions(params: Mapping[str, Any], properties: Mapping[str, Any]) -> tuple[int, int]:
    """The pixel size a request implies, from whichever size field its model uses.

    `params` are the request's fields with the model's defaults filled in; `properties` is the model's
    request schema, read for the defaults of an `image_size` object.
    """
    size = params.get("size")
    if isinstance(size, str) and (parsed := parse_size(size)):
        return parsed
    if "image_size" in params or "image_size" in properties:
        found = _image_size(params.get("image_size"), properties.get("image_size", {}))
        if found:
            return found
    ratio = params.get("aspect_ratio")
    base = resolution_side(params.get("resolution"))
    if isinstance(ratio, str) and ratio != "auto":
        return _from_ratio(ratio, base or DEFAULT_SIDE)
    if base:
        return base, base
    longest = params.get("max_resolution")
    if isinstance(longest, int | float) and not isinstance(longest, bool):
        side = _side(longest, DEFAULT_SIDE)
        return side, side
    return DEFAULT_SIDE, DEFAULT_SIDE


def image_count(params: Mapping[str, Any]) -> int:
    """How many images: `n` or `num_images` (whichever the model defines), else one."""
    for name in ("n", "num_images"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(1, int(value))
    return 1


def image_format(params: Mapping[str, Any]) -> str:
    """The encoding: the model's `output_format` (`jpg` and `tif` are aliases), png for models without one.

    A value the mock cannot render falls back to png rather than failing the request; no schema in the contract
    allows one (the suite checks every `output_format` enum).
    """
    value = params.get("output_format")
    if not isinstance(value, str):
        return "png"
    value = value.lower()
    value = FORMAT_ALIASES.get(value, value)
    return value if value in IMAGE_FORMATS else "png"


def image_delivery(params: Mapping[str, Any]) -> str:
    """`url` or `b64_json`: `response_format` where the model has it, else `convert_base64_to_url: false`.

    The provider documents `convert_base64_to_url` (Imagen, Reve, nano-banana-edit) as "if True, the URL to the
    image will be returned; otherwise, the file will be provided in base64 format".
    """
    value = params.get("response_format")
    if isinstance(value, str):
        return "b64_json" if value == "b64_json" else "url"
    if params.get("convert_base64_to_url") is False:
        return "b64_json"
    return "url"
