"""Layout: colours, border, and where each line of text goes; what every renderer draws, in plain numbers.

Nothing here calls Pillow beyond its public font metrics, so the plain renderer can lay out an image when the
fast path's private Pillow calls are unavailable, and both draw the same picture.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from aiml_mock.core.images._fonts import (
    _CAPTION_PER_SIDE,
    _PLACEHOLDER_MARK,
    _PROMPT_PER_SIDE,
    _Font,
    _font,
    _snap_font_size,
)
from aiml_mock.core.images._spec import _LEVELS, ImageSpec
from aiml_mock.core.images._text import _sanitize, _wrap


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
class _Layout:
    """One image as numbers.

    Rows ``[0, border)`` and ``[height - border, height)`` and as many columns at each side are border colour
    (palette index 1); the rest is background (index 0) but for the text, all of it in rows ``[band_y, band_y +
    band_height)``. Each line is ``(font, text, x, y)``: the text (in font slots) drawn as its glyph mask (see
    :class:`_Font`) whose pixel ``(i, j)`` covers ``scale x scale`` image pixels from column ``origin + scale *
    (x + i)`` and row ``band_y + scale * (y + j)``. The last ``cached`` lines are the caption, which repeats
    across prompts (renderers may cache what they make of it).
    """

    width: int
    height: int
    border: int
    palette: bytes
    band_y: int = 0
    band_height: int = 0
    scale: int = 1
    origin: int = 0
    lines: tuple[tuple[_Font, str, int, int], ...] = ()
    cached: int = 0


def _caption(spec: ImageSpec) -> str:
    parts = [spec.model, f"{spec.width}x{spec.height}", spec.label, f"#{spec.index + 1}"]
    return " \xb7 ".join(part for part in parts if part)


def _caption_lines(size: int, caption: str, max_width: int) -> tuple[str, ...]:
    """The caption wrapped (at most 2 lines), then the placeholder mark."""
    font = _font(size)
    return tuple(_wrap(font, _sanitize(caption), max_width, 2) + _wrap(font, _PLACEHOLDER_MARK, max_width, 1))


# Captions repeat across prompts, so up to this width their lines (and the fast path's masks of them) are cached.
_CACHED_CAPTION_WIDTH: Final = 2048
_cached_caption_lines: Final = lru_cache(maxsize=128)(_caption_lines)

# (shorter side from which, scale): big images get their text laid out and drawn at 1/scale of their size, each
# drawn pixel then covering scale x scale image pixels, so the text costs what it does in a small image.
_SCALES: Final = ((2560, 4), (1152, 2))


def _layout(spec: ImageSpec) -> _Layout:
    """Choose fonts, wrap the prompt and caption into what fits, and place the lines in the text band."""
    width, height = spec.width, spec.height
    short = min(width, height)
    border = 0 if short < 32 else max(1, short // 320)
    margin = border + max(2, short // 20)
    scale = next((k for side, k in _SCALES if short >= side), 1)
    inner_width, inner_height = (width - 2 * margin) // scale, (height - 2 * margin) // scale
    # Font sizes are chosen for the image, then divided by the scale: 96 px at 4096 is 24 px drawn 4x.
    prompt_font = _font(_snap_font_size(_snap_font_size(_PROMPT_PER_SIDE * short) / scale))
    caption_font = _font(_snap_font_size(_snap_font_size(_CAPTION_PER_SIDE * short) / scale))
    caption_height = caption_font.line_height

    cached = inner_width <= _CACHED_CAPTION_WIDTH
    caption = list((_cached_caption_lines if cached else _caption_lines)(caption_font.size, _caption(spec),
                                                                           inner_width))
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

    texts = [(prompt_font, row) for row in prompt_rows] + [(caption_font, line) for line in caption]
    palette = _palette(*_colours(spec.prompt_digest, spec.index))
    if not texts:
        return _Layout(width, height, border, palette)
    band_height = sum(font.line_height for font, _ in texts[:-1]) + texts[-1][0].mask_height + gap
    origin = margin // 4 * 4 if scale > 1 else 0  # a byte boundary of the PNG rows
    placed: list[tuple[_Font, str, int, int]] = []
    y = 0
    for number, (font, text) in enumerate(texts):
        if number == len(prompt_rows):
            y += gap
        placed.append((font, text, (width - 2 * origin - scale * font.width(text)) // (2 * scale), y))  # centred
        y += font.line_height
    return _Layout(
        width, height, border, palette, (height - scale * band_height) // 2, scale * band_height, scale, origin,
        tuple(placed), len(caption) if cached else 0,
    )
