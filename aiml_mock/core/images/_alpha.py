"""Transparent images (gpt-image's `background: "transparent"`): the palette picture as RGBA, encoded by Pillow.

Both renderers draw the same 4-entry palette picture (background, two anti-aliasing blends, text); here each
entry gets the text colour with an opacity of its blend, the background an opacity of 0. So the background is
fully transparent, the text fully opaque, and its anti-aliased edges (and the soft border) blend over whatever
the picture is laid on. The transparent pixels keep the background colour, so a viewer that ignores alpha shows
the opaque picture. PNG is written as 8-bit RGBA (colour type 6, as OpenAI's transparent images are), WebP as
lossless RGBA with its invisible pixels kept exact. Public Pillow API only; a slow path (tens of ms at
1024x1024), which is why it is only taken for transparent requests.
"""

from __future__ import annotations

import io
from typing import Final

from PIL import Image

from aiml_mock.core.images._spec import _LEVELS

ALPHA_FORMATS: Final = ("png", "webp")  # the formats with an alpha channel (gpt-image refuses jpeg+transparent)


def rgba_palette(palette: bytes) -> bytes:
    """RGBA entries for a palette of `_LEVELS` RGB entries, background (index 0) first, text colour last."""
    top = _LEVELS - 1
    background, text = palette[:3], palette[3 * top: 3 * top + 3]
    return background + b"\x00" + b"".join(text + bytes([round(255 * level / top)]) for level in range(1, _LEVELS))


def transparent(picture: Image.Image, fmt: str) -> bytes:
    """`picture` (mode "P", the renderers' palette image) as a transparent `fmt` file (png or webp)."""
    palette = bytes(picture.getpalette() or b"")[: 3 * _LEVELS]
    indexed = picture.copy()
    indexed.putpalette(rgba_palette(palette), "RGBA")
    out = io.BytesIO()
    if fmt == "png":
        indexed.convert("RGBA").save(out, "PNG")
    else:
        indexed.convert("RGBA").save(out, "WEBP", lossless=True, quality=0, method=0, exact=True)
    return out.getvalue()
