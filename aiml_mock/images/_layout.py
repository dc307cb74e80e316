"""Layout: colours, border, and the text band (the only rows that differ from the flat pattern)."""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from PIL import Image

from aiml_mock.images._fonts import (
    _CAPTION_PER_SIDE,
    _PLACEHOLDER_MARK,
    _PROMPT_PER_SIDE,
    _Font,
    _font,
    _snap_font_size,
)
from aiml_mock.images._spec import _BORDER, _LEAD, _LEVELS, ImageSpec
from aiml_mock.images._text import _sanitize, _wrap


def _colours(digest: bytes, index: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Pleasant, fairly light background from the digest (hue turned per batch index) and black or white text."""
    if len(digest) < 4:
        digest = hashlib.blake2b(digest, digest_size=8).digest()
    hue = (int.from_bytes(digest[:2], "big") / 65536 + index * 0.13) % 1.0
    saturation = 0.35 + digest[2] / 255 * 0.35
    lightness = 0.55 + digest[3] / 255 * 0.25
    bg = tuple(round(c * 255) for c in colorsys.hls_to_rgb(hue, lightness, saturation))

    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(bg[0]) + 0.7152 * linear(bg[1]) + 0.0722 * linear(bg[2])
    fg = (0, 0, 0) if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else (255, 255, 255)
    return (bg[0], bg[1], bg[2]), fg


def _palette(bg: tuple[int, int, int], fg: tuple[int, int, int]) -> bytes:
    """RGB entries blending background (index 0) to text colour (last index)."""
    top = _LEVELS - 1
    return bytes([round(b + (f - b) * i / top) for i in range(_LEVELS) for b, f in zip(bg, fg, strict=True)])


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


def _caption(spec: ImageSpec) -> str:
    parts = [spec.model, f"{spec.width}x{spec.height}", spec.label, f"#{spec.index + 1}"]
    return " \xb7 ".join(part for part in parts if part)


def _masks(font: _Font, lines: list[str]) -> list[tuple[_Font, Any]]:
    """(font, glyph mask) per line; a mask is a Pillow ImagingCore of palette indices."""
    return [(font, font.core.getmask(line, "L")) for line in lines]


def _caption_masks(size: int, caption: str, max_width: int) -> tuple[tuple[_Font, Any], ...]:
    """The caption lines (at most 2, then the placeholder mark), rendered."""
    font = _font(size)
    lines = _wrap(font, _sanitize(caption), max_width, 2) + _wrap(font, _PLACEHOLDER_MARK, max_width, 1)
    return tuple(_masks(font, lines))


# Captions repeat across prompts, so up to this width their masks are cached (<= ~40 MB even if every entry
# were as wide as the image; a few KB each in practice). Masks are only ever read.
_CACHED_CAPTION_WIDTH: Final = 2048
_cached_caption_masks: Final = lru_cache(maxsize=128)(_caption_masks)

# (shorter side from which, scale): big images get their text laid out and drawn at 1/scale of their size, each
# drawn pixel then covering scale x scale image pixels, so the text costs what it does in a small image.
_SCALES: Final = ((2560, 4), (1152, 2))


def _plan(spec: ImageSpec) -> _Plan:
    """Choose fonts, wrap the prompt and caption into what fits, and place the lines in the text band."""
    width, height = spec.width, spec.height
    short = min(width, height)
    border = 0 if short < 32 else max(1, short // 320)
    margin = border + max(2, short // 20)
    scale = next((k for side, k in _SCALES if short >= side), 1)
    inner_width, inner_height = (width - 2 * margin) // scale, (height - 2 * margin) // scale
    # Font sizes are chosen for the image, then divided by the scale: 96 px at 4096 is 24 px drawn 4x.
    prompt_font = _font(_snap_font_size(_snap_font_size(_PROMPT_PER_SIDE * short) / scale))
    caption_size = _snap_font_size(_snap_font_size(_CAPTION_PER_SIDE * short) / scale)
    caption_height = _font(caption_size).line_height

    captioner = _cached_caption_masks if inner_width <= _CACHED_CAPTION_WIDTH else _caption_masks
    caption = list(captioner(caption_size, _caption(spec), inner_width))
    prompt = _sanitize(spec.text)
    gap = prompt_font.line_height // 2 if prompt else 0
    need_prompt = prompt_font.line_height + gap if prompt else 0
    while caption and len(caption) * caption_height + need_prompt > inner_height:
        caption.pop()
    if not caption:
        gap = 0
    prompt_lines = (inner_height - len(caption) * caption_height - gap) // prompt_font.line_height
    prompt_rows = _wrap(prompt_font, prompt, inner_width, prompt_lines)
    if not prompt_rows:
        gap = 0

    lines = _masks(prompt_font, prompt_rows) + caption
    palette = _palette(*_colours(spec.prompt_digest, spec.index))
    if not lines:
        return _Plan(width, height, border, palette)
    band_height = sum(font.line_height for font, _ in lines[:-1]) + lines[-1][0].mask_height + gap
    origin = margin // 4 * 4 if scale > 1 else 0  # a byte boundary of the PNG rows
    placed: list[tuple[Any, int, int]] = []
    y = 0
    for number, (font, mask) in enumerate(lines):
        if number == len(prompt_rows):
            y += gap
        placed.append((mask, (width - 2 * origin - scale * mask.size[0]) // (2 * scale), y))  # centred
        y += font.line_height
    plan = _Plan(
        width, height, border, palette, (height - scale * band_height) // 2, scale * band_height, scale, origin,
        tuple(placed), len(caption) if captioner is _cached_caption_masks else 0,
    )
    return plan if scale > 1 else _unscaled(plan)


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


