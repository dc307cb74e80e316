"""The plain reference renderer: the same picture drawn with Pillow's public API only.

``Image.new``, ``ImageDraw`` and ``ImageFont`` draw it, ``Image.save`` encodes it: glyphs drawn one by one
with FreeType at the layout's whole-pixel positions (as the fast path's bitmap fonts hold them), a NEAREST
resize for scaled text, a rectangle for the border. It serves when Pillow's private API is missing or changed
(see :mod:`aiml_mock.core.images`), and it is the oracle the tests hold the fast encoders to. It builds the whole
image, so it costs what plain Pillow costs (tens of ms at 1024x1024, seconds at 8192x8192).
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw

from aiml_mock.core.images._alpha import ALPHA_FORMATS, transparent
from aiml_mock.core.images._fonts import _QUANTIZE, _Font, _font, _freetype, _Glyph
from aiml_mock.core.images._layout import _layout
from aiml_mock.core.images._spec import _BORDER, _JPEG_QUALITY, ImageSpec


@lru_cache(maxsize=64)
def _glyphs(size: int) -> dict[int, _Glyph]:
    """The font's glyphs by slot."""
    return {glyph[0]: glyph for glyph in _font(size).glyphs}


@lru_cache(maxsize=4096)
def _glyph(size: int, slot: int) -> Image.Image:
    """One glyph's box, drawn alone by FreeType and quantised to palette indices."""
    _, ch, _, left, top, right, bottom = _glyphs(size)[slot]
    im = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(im).text((-left, -top), ch, font=_freetype(size), fill=255, anchor="ls")
    return im.point(_QUANTIZE)


def _line(font: _Font, text: str) -> Image.Image:
    """The glyph mask of one line: each glyph's box pasted at its pen position, over what is there."""
    line = Image.new("L", (font.width(text), font.mask_height))
    glyphs, x = _glyphs(font.size), 0
    for ch in text:
        glyph = glyphs.get(ord(ch))
        if glyph is None:
            continue
        slot, _, advance, left, top, right, bottom = glyph
        if right > left:
            line.paste(_glyph(font.size, slot), (x + left, top - font.top))
        x += advance
    return line


def picture(spec: ImageSpec) -> Image.Image:
    """The image of ``spec`` as a "P" (palette) Pillow image at full size."""
    layout = _layout(spec)
    width, height, border, scale = layout.width, layout.height, layout.border, layout.scale
    im = Image.new("L", (width, height))
    if border:
        ImageDraw.Draw(im).rectangle((0, 0, width - 1, height - 1), outline=_BORDER, width=border)
    for font, text, x, y in layout.lines:
        line = _line(font, text)
        if scale > 1:
            line = line.resize((scale * line.width, scale * line.height), Image.Resampling.NEAREST)
        im.paste(line, (layout.origin + scale * x, layout.band_y + scale * y))
    im.putpalette(layout.palette)
    return im


def render(spec: ImageSpec) -> bytes:
    """``spec`` as a PNG (palette), JPEG (baseline, the fast path's quality and subsampling) or lossless WebP;
    a transparent one as RGBA (``_alpha``)."""
    im = picture(spec)
    if spec.transparent and spec.fmt in ALPHA_FORMATS:
        return transparent(im, spec.fmt)
    out = io.BytesIO()
    if spec.fmt == "png":
        im.save(out, "PNG")
    elif spec.fmt == "jpeg":
        im.convert("RGB").save(out, "JPEG", quality=_JPEG_QUALITY, subsampling=2)
    else:
        im.save(out, "WEBP", lossless=True, quality=0, method=0)  # least effort: lossless is exact at any
    return out.getvalue()
