"""The fast renderer: hand-written encoders over the text band of :mod:`._band`, and its self-check."""

from __future__ import annotations

import io

from PIL import Image

from aiml_mock.core.images import (  # the modules: a function of the same name would shadow them
    _jpeg,
    _plain,
    _png,
    _webp,
)
from aiml_mock.core.images._alpha import ALPHA_FORMATS, transparent
from aiml_mock.core.images._band import _mask, _plan, _unscaled
from aiml_mock.core.images._deflate import _pack
from aiml_mock.core.images._fonts import _FONT_SIZES, _font
from aiml_mock.core.images._spec import _LEAD, ImageSpec

_CHECK_TEXT = "Ag"  # the widest and the deepest glyph of the check's line
_CHECK_SPEC = ImageSpec("Ag", bytes(8), "", 40, 24, "", "png")  # 40x24: one line of 8 px text, no caption


def render(spec: ImageSpec) -> bytes:
    """``spec`` as a PNG, JPEG or WebP file (the format is checked by the caller). A transparent one is this
    renderer's palette PNG, decoded (public API), made RGBA as the plain renderer makes its own (``_alpha``)."""
    plan = _plan(spec)
    if spec.transparent and spec.fmt in ALPHA_FORMATS:
        with Image.open(io.BytesIO(_png._png(plan))) as drawn:
            return transparent(drawn, spec.fmt)
    if spec.fmt == "png":
        return _png._png(plan)
    if spec.fmt == "jpeg":
        return _jpeg._jpeg(_unscaled(plan))
    return _webp._webp(_unscaled(plan))


def check() -> None:
    """Raise unless Pillow's private calls the fast path makes draw what plain Pillow draws.

    One line's glyph mask and what is done to it (packing by the raw encoder, crop, NEAREST resize, bounding
    box), then the text band of one small image against the plain picture's rows. Once per process, a few ms
    (most of it the smallest font's atlas, which small images need anyway); no file is decoded, so no Pillow
    image plugin is loaded for it.
    """
    font = _font(_FONT_SIZES[0])
    mask, line = _mask(font.size, _CHECK_TEXT), _plain._line(font, _CHECK_TEXT)
    box, scaled, nearest = (0, 1, 2, 3), (2 * line.width, 2 * line.height), Image.Resampling.NEAREST
    if (
        mask.size != line.size
        or _pack(mask, "L") != line.tobytes()
        or _pack(mask, "L;4") != line.tobytes("raw", "L;4")
        or _pack(mask.crop(box), "L") != line.crop(box).tobytes()
        or _pack(mask.resize(scaled, nearest), "L") != line.resize(scaled, nearest).tobytes()
        or mask.getbbox() != line.getbbox()
    ):
        raise RuntimeError("a glyph mask differs from plain Pillow's drawing")
    plan = _plan(_CHECK_SPEC)
    if plan.band is None or not plan.ink:
        raise RuntimeError("the check's image has no text")
    rows = (0, plan.band_y, plan.width, plan.band_y + plan.band_height)
    if plan.band.crop((_LEAD, 0, _LEAD + plan.width, plan.band_height)).tobytes() != _plain.picture(
        _CHECK_SPEC
    ).crop(rows).tobytes():
        raise RuntimeError("a text band differs from plain Pillow's drawing")
