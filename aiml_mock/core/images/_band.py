"""The fast path's text: Pillow bitmap fonts, the glyph masks of a layout's lines, and the text band they make.

This module and :mod:`._deflate` are the only ones calling Pillow's private API: a bitmap font loaded from
memory (``ImageFont.ImageFont._load_pilfont_data``), its C object's ``getmask`` and the masks' ``ImagingCore``
methods (``paste``, ``crop``, ``resize``, ``getbbox``), which skip building an ``Image`` around each mask.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont

from aiml_mock.core.images._fonts import _FONT_SIZES, _QUANTIZE, _font, _freetype
from aiml_mock.core.images._layout import _layout
from aiml_mock.core.images._spec import _BORDER, _LEAD, ImageSpec


@lru_cache(maxsize=len(_FONT_SIZES))
def _bitmap_font(size: int) -> Any:
    """Render every drawable glyph of Aileron at ``size`` px once into an atlas and load it as a bitmap font.

    Returns Pillow's ImagingFont: ``getmask(text, mode)`` -> an ImagingCore of palette indices.
    """
    font, ft = _font(size), _freetype(size)
    glyphs, top_all = font.glyphs, font.top
    atlas = Image.new("L", (sum(g[5] - g[3] + 1 for g in glyphs) + 1, font.mask_height + 1))
    draw = ImageDraw.Draw(atlas)
    metrics = bytearray(256 * 20)
    struct.pack_into(">10h", metrics, 0, 0, 0, 0, top_all, 0, top_all + font.mask_height, 0, 0, 0, 0)  # the height
    x = 1
    for slot, ch, advance, left, top, right, bottom in glyphs:
        if right > left:
            draw.text((x - left, -top_all), ch, font=ft, fill=255, anchor="ls")
            src = (x, top - top_all, x + right - left, bottom - top_all)
            x += right - left + 1
        else:
            src = (0, 0, 0, 0)
        struct.pack_into(">10h", metrics, slot * 20, advance, 0, left, top, right, bottom, *src)
    bitmap = ImageFont.ImageFont()  # a PIL bitmap font read from memory: header, 256 glyph metrics, atlas
    bitmap._load_pilfont_data(io.BytesIO(b"PILfont\n\nDATA\n" + metrics), atlas.point(_QUANTIZE))
    return bitmap.font


def _mask(size: int, text: str) -> Any:
    """The glyph mask of one line (a Pillow ImagingCore of palette indices)."""
    return _bitmap_font(size).getmask(text, "L")


# The caption's masks repeat across prompts (<= ~40 MB even if every entry were as wide as the image; a few KB
# each in practice). Masks are only ever read.
_cached_mask: Final = lru_cache(maxsize=384)(_mask)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Format-independent description of one image.

    Rows ``[0, border)`` and ``[height - border, height)`` are border colour; every other row is background with
    ``border`` border-coloured columns at each side, except in the text band, rows ``[band_y, band_y +
    band_height)``. ``lines`` places each text line's glyph mask (palette indices) in the band, in pixels of
    the text: a mask pixel at ``(x, y)`` covers ``scale x scale`` image pixels from column ``origin + scale * x``
    and row ``band_y + scale * y``. At scale 1, ``band`` is the band itself: an "L" image of palette indices,
    ``_LEAD + width`` wide (the leading zero columns pack into the PNG filter byte), whose rows outside the
    ``ink`` row ranges (band coordinates) equal the flat rows; at larger scales :func:`_unscaled` draws it.
    """

    width: int
    height: int
    border: int
    palette: bytes
    band_y: int = 0
    band_height: int = 0
    scale: int = 1
    origin: int = 0
    lines: tuple[tuple[Any, int, int], ...] = ()  # (glyph mask, x, y)
    cached: int = 0  # how many of the last lines have cached masks (the caption's, which repeat across prompts)
    band: Image.Image | None = None
    ink: tuple[tuple[int, int], ...] = ()


def _plan(spec: ImageSpec) -> _Plan:
    """The layout of ``spec`` with each line's glyph mask made; the band drawn too at scale 1."""
    layout = _layout(spec)
    if not layout.lines:
        return _Plan(layout.width, layout.height, layout.border, layout.palette)
    first_cached = len(layout.lines) - layout.cached
    lines: list[tuple[Any, int, int]] = []
    for number, (font, text, x, y) in enumerate(layout.lines):  # a loop: 3.11 makes a function per comprehension
        lines.append(((_mask if number < first_cached else _cached_mask)(font.size, text), x, y))
    plan = _Plan(
        layout.width, layout.height, layout.border, layout.palette, layout.band_y, layout.band_height, layout.scale,
        layout.origin, tuple(lines), layout.cached,
    )
    return plan if layout.scale > 1 else _unscaled(plan)


def _unscaled(plan: _Plan) -> _Plan:
    """``plan`` with its text band drawn at image resolution (what JPEG and WebP encode, and PNG at scale 1)."""
    if plan.band is not None or not plan.lines:
        return plan
    width, border, scale = plan.width, plan.border, plan.scale
    band = Image.new("L", (_LEAD + width, plan.band_height))
    if border:
        band.paste(_BORDER, (_LEAD, 0, _LEAD + border, plan.band_height))
        band.paste(_BORDER, (_LEAD + width - border, 0, _LEAD + width, plan.band_height))
    ink: list[tuple[int, int]] = []
    for mask, x, y in plan.lines:
        mask_width, mask_height = mask.size
        if scale > 1:
            mask_width, mask_height = scale * mask_width, scale * mask_height
            mask = mask.resize((mask_width, mask_height), Image.Resampling.NEAREST)
        left, top = _LEAD + plan.origin + scale * x, scale * y
        band.im.paste(mask, (left, top, left + mask_width, top + mask_height))
        box = mask.getbbox()
        if box:
            top, bottom = top + box[1], top + box[3]
            if ink and top <= ink[-1][1]:
                ink[-1] = (ink[-1][0], max(bottom, ink[-1][1]))
            else:
                ink.append((top, bottom))
    return _Plan(
        width, plan.height, border, plan.palette, plan.band_y, plan.band_height, scale, plan.origin, plan.lines,
        plan.cached, band, tuple(ink),
    )


