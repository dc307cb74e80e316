"""How a request's fields say what to render: pixel size, how many images, which encoding.

Models say the size in different ways (`size: "1024x1792"`, `image_size` presets or `{width, height}`,
`aspect_ratio` with `resolution`); the count as `n` or `num_images`; the encoding as `output_format`.
These rules are generic over the field names, so a new model needs only its schema in the contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DEFAULT_SIDE = 1024

# fal.ai's presets, which the FLUX/Qwen/SD schemas on the provider share.
IMAGE_SIZE_PRESETS: Mapping[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

# The long-side budget a `resolution` names; an aspect ratio keeps about base x base pixels.
RESOLUTION_BASE: Mapping[str, int] = {"1k": 1024, "2k": 2048, "4k": 4096, "720": 1280, "1080": 1920}

FORMAT_ALIASES: Mapping[str, str] = {"jpg": "jpeg", "tif": "tiff"}


def parse_size(text: str) -> tuple[int, int] | None:
    """`"1024x1792"` -> (1024, 1792); anything else -> None."""
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    w, h = int(width), int(height)
    return (w, h) if 0 < w <= 8192 and 0 < h <= 8192 else None


def _from_ratio(ratio: str, resolution: Any) -> tuple[int, int]:
    base = RESOLUTION_BASE.get(str(resolution).lower(), DEFAULT_SIDE) if resolution is not None else DEFAULT_SIDE
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
    return max(16, min(8192, int(round(value / 16)) * 16))


def object_defaults(field_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults of an object-valued field's properties, wherever its `anyOf` branch puts them."""
    branches = [field_schema, *field_schema.get("anyOf", ()), *field_schema.get("oneOf", ())]
    return {
        name: prop["default"]
        for branch in branches
        for name, prop in branch.get("properties", {}).items()
        if "default" in prop
    }


def image_dimensions(params: Mapping[str, Any], properties: Mapping[str, Any]) -> tuple[int, int]:
    """The pixel size a request implies, from whichever size field its model uses."""
    size = params.get("size")
    if isinstance(size, str) and (parsed := parse_size(size)):
        return parsed
    image_size = params.get("image_size")
    if isinstance(image_size, str) and image_size in IMAGE_SIZE_PRESETS:
        return IMAGE_SIZE_PRESETS[image_size]
    if isinstance(image_size, Mapping):
        defaults = object_defaults(properties.get("image_size", {}))
        width = image_size.get("width", defaults.get("width", DEFAULT_SIDE))
        height = image_size.get("height", defaults.get("height", DEFAULT_SIDE))
        return int(width), int(height)
    ratio = params.get("aspect_ratio")
    resolution = params.get("resolution", params.get("max_resolution"))
    if isinstance(ratio, str) and ratio != "auto":
        return _from_ratio(ratio, resolution)
    if resolution is not None:
        side = RESOLUTION_BASE.get(str(resolution).lower(), DEFAULT_SIDE)
        return side, side
    return DEFAULT_SIDE, DEFAULT_SIDE


def image_count(params: Mapping[str, Any]) -> int:
    for name in ("n", "num_images"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return 1


def image_format(params: Mapping[str, Any]) -> str:
    """The encoding asked for: png unless the model takes `output_format`."""
    value = params.get("output_format")
    if not isinstance(value, str):
        return "png"
    value = value.lower()
    return FORMAT_ALIASES.get(value, value)
