"""Pure, cached placeholder images for the mock image-generation endpoint.

``render_image(spec)`` turns an :class:`ImageSpec` into the bytes of a real PNG, JPEG or WebP file of exactly
``width x height``: a flat background colour derived from the prompt digest, the prompt wrapped and truncated to
what fits, a caption (model, size, label, image number, "aiml-mock placeholder") and a thin border.
The same spec always gives the same bytes, so :class:`ImageCache` can keep results by spec.

Two renderers draw the same picture (same colours, layout, glyphs: the same pixels; JPEG at the same settings):

* ``fast`` (the default): hand-written encoders over glyph masks from Pillow's *private* API (a bitmap font
  loaded with ``ImageFont.ImageFont._load_pilfont_data``, ``ImagingCore`` methods, ``PIL._imaging``'s raw
  encoder), confined to ``_band.py`` and ``_deflate.py``. Faster than ``plain`` by 6-120x for PNG, 1.5-18x for
  JPEG, 6-65x for WebP, the gap growing with the size (bench/bench_render.py).
* ``plain`` (``_plain.py``): Pillow's public API only (``Image.new``, ``ImageDraw``, ``ImageFont``,
  ``Image.save``), whole images; the tests' oracle for the fast encoders.

The choice is made once, at import: the environment variable ``AIML_MOCK_RENDERER`` is ``auto`` (default),
``fast`` or ``plain``. ``auto`` runs a self-check of the fast path (one line of glyphs and the text band of one
40x24 image against plain Pillow, a few ms) and falls back to ``plain``, with one warning on the
``aiml_mock.core.images`` logger, when Pillow's private API is missing or behaves otherwise; ``fast`` raises
``ImportError`` instead of falling back; ``plain`` skips the fast path altogether. :data:`RENDERER` names the
renderer serving this process.

Why the fast renderer is fast (Pillow's plain ``Image.new("RGB").save("PNG")`` costs 10-40 ms at 1024x1024):

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

from aiml_mock.core.images._cache import ImageCache
from aiml_mock.core.images._render import RENDERER, render_image
from aiml_mock.core.images._spec import CONTENT_TYPES, MAX_SIDE, ImageFormat, ImageSpec

__all__ = ["CONTENT_TYPES", "RENDERER", "ImageCache", "ImageFormat", "ImageSpec", "MAX_SIDE", "render_image"]
