"""Pure, cached placeholder images for the mock image-generation endpoint.

``render_image(spec)`` turns an :class:`ImageSpec` into the bytes of a real PNG, JPEG or WebP file of exactly
``width x height``: a flat background colour derived from the prompt digest, the prompt wrapped and truncated to
what fits, a caption (model, size, label, image number, "aiml-mock placeholder") and a thin border.
The same spec always gives the same bytes, so :class:`ImageCache` can keep results by spec.

Why it is fast (Pillow's plain ``Image.new("RGB").save("PNG")`` costs 10-40 ms at 1024x1024):

* Text is drawn with an in-memory Pillow *bitmap* font built once per size from Pillow's built-in Aileron
  font; pasting pre-rendered glyphs costs ~20 us a line where FreeType costs ~800 us.
* Big images (shorter side 1152 px and up) get their text laid out and drawn at 1/2, from 2560 px at 1/4 of
  their size, with the font size chosen for the image divided likewise; each drawn pixel then covers 2x2 or
  4x4 image pixels. So the text costs what it does in a 600-2000 px image, and looks the same, blockier.
* PNG is written by hand as a 4-colour (2-bit) palette image. Every row outside the text is one of two
  colour-independent byte patterns (palette index 0 plus border columns), so their deflate data is compressed
  once per width and reused: raw deflate segments ending on a sync flush are concatenated into one zlib
  stream whose Adler-32 is combined arithmetically. The palette chunk carries the colours, so a new colour
  costs nothing. Text drawn at full size is deflated by zlib per call. Scaled text is written as deflate
  blocks directly, one per line, with a Huffman code in which every code is whole bytes: one bytes.translate
  turns each pair of drawn pixels into a byte of deflate data, "copy from the row above" codes give the rest
  of each row and its repeats, and the Adler-32 follows from sums over the drawn pixels. Nothing is done per
  image pixel. The background between glyphs is not run-length coded, so a PNG can be bigger than zlib makes
  an exact drawing (44 KB against 25 KB at 2048x2048; 52 KB against 71 KB at 4096x4096).
* JPEG is stitched the same way: every 16-row MCU row is its own restart interval, so the few MCU rows that
  hold text or border are encoded by Pillow and the flat MCU row is encoded once and repeated.
* WebP is a hand-written lossless (VP8L) stream, pixel-identical to the PNG: the palette as a colour-indexing
  transform, one 8-bit code per 4 pixels (so rows are a ``bytes.translate``), and rows repeating the row above
  cost a few bits each ("copy the row above").
"""

from __future__ import annotations

from aiml_mock.images import _jpeg, _png, _webp  # the modules: a function of the same name would shadow them
from aiml_mock.images._band import _plan, _unscaled
from aiml_mock.images._cache import ImageCache
from aiml_mock.images._spec import CONTENT_TYPES, MAX_SIDE, ImageFormat, ImageSpec

__all__ = ["CONTENT_TYPES", "ImageCache", "ImageFormat", "ImageSpec", "MAX_SIDE", "render_image"]


def render_image(spec: ImageSpec) -> bytes:
    """Render ``spec`` to the bytes of an image file; pure, so the same spec always gives the same bytes.

    Medians on a 2-core VM with a 300-character prompt (bench/bench_render.py, which interleaves formats, so a
    PNG follows a JPEG's and a WebP's cache use; this VM's speed drifts ~1.7x): PNG 0.4-0.9 ms at every size
    up to 8192x8192, 4096x4096 the slowest (after the biggest JPEG and WebP), ~1.2 ms while other processes
    load the VM; WebP 0.6-1.2 ms up to 1792x1024, ~2.5 ms at 2048x2048, ~9 ms at 4096x4096; JPEG 1.1-3 ms up
    to 1792x1024, ~6-7 ms at 2048x2048, ~15-18 ms at 4096x4096. No full-size image is ever built: memory is
    O(width x text band) (the PNG of scaled text never draws it at full size), under 15 MB at 8192x8192. The
    first render at a new size in a process also builds that size's font atlases (~7 ms each, then cached),
    its flat rows' deflate data (~2-9 ms per width) and, for scaled text, its deflate codes (~1-2 ms a width).
    CPU-bound and synchronous: from asyncio, call it (or :meth:`ImageCache.get`) in a thread for big sizes.
    Raises ``ValueError`` for a format other than png, jpeg, webp.
    """
    if spec.fmt not in CONTENT_TYPES:
        raise ValueError(f"cannot render format {spec.fmt!r}; supported: {', '.join(CONTENT_TYPES)}")
    plan = _plan(spec)
    if spec.fmt == "png":
        return _png._png(plan)
    if spec.fmt == "jpeg":
        return _jpeg._jpeg(_unscaled(plan))
    return _webp._webp(_unscaled(plan))
