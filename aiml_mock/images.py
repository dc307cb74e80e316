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

import base64
import bisect
import colorsys
import hashlib
import io
import itertools
import re
import struct
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from types import MappingProxyType
from typing import Any, Final, Literal

from PIL import Image, ImageDraw, ImageFont
from PIL import _imaging as _pil_core  # Pillow's C module: its raw encoder packs a mask without an Image

__all__ = ["CONTENT_TYPES", "ImageCache", "ImageFormat", "ImageSpec", "MAX_SIDE", "render_image"]

ImageFormat = Literal["png", "jpeg", "webp"]

CONTENT_TYPES: Final[Mapping[ImageFormat, str]] = MappingProxyType(
    {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
)

MAX_SIDE: Final = 8192
"""Largest width or height accepted by :class:`ImageSpec`."""


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """Everything that determines one placeholder image; hashable, so it is the cache key.

    ``text`` is the prompt as drawn (the caller truncates it), ``prompt_digest`` is a digest of the full
    prompt and seed that picks the colour, ``index`` is the 0-based position in a batch (drawn as ``#1``).
    Sizes and index are checked here (``ValueError``); ``fmt`` only by :func:`render_image`, so a spec may
    carry a format that the caller converts from a PNG itself.
    """

    text: str
    prompt_digest: bytes
    model: str
    width: int
    height: int
    label: str
    fmt: ImageFormat = "png"
    index: int = 0

    def __post_init__(self) -> None:
        width, height, index = self.width, self.height, self.index
        if (type(width) is int and type(height) is int and type(index) is int and 0 < width <= MAX_SIDE
                and 0 < height <= MAX_SIDE and index >= 0 and type(self.prompt_digest) is bytes
                and type(self.text) is str and type(self.model) is str and type(self.label) is str):
            return  # the common case in one expression (a spec is made per image of every answer)
        self._explain()

    def _explain(self) -> None:
        """Raise the `ValueError` naming what is wrong (subclasses of bytes and str are accepted)."""
        for name in ("width", "height"):
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= MAX_SIDE:
                raise ValueError(f"{name} must be an int in 1..{MAX_SIDE}, got {value!r}")
        if type(self.index) is not int or self.index < 0:
            raise ValueError(f"index must be a non-negative int, got {self.index!r}")
        if not isinstance(self.prompt_digest, bytes):
            raise ValueError("prompt_digest must be bytes")
        for name in ("text", "model", "label"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a str")


# --------------------------------------------------------------------------------------------------------------
# Fonts: Pillow bitmap fonts built from the built-in Aileron TrueType font.

_BITS: Final = 2  # PNG bit depth: 4 palette entries, enough anti-aliasing while halving the bytes of 4-bit
_PACK: Final = f"L;{_BITS}"  # Pillow raw mode that packs "L" values 0..3 like PNG scanlines
_LEAD: Final = 8 // _BITS  # leading zero pixels per band row: they pack into the PNG filter byte (0 = None)
_LEVELS: Final = 1 << _BITS  # palette entries: 0 = background, last = text, in between = anti-aliasing blends
_BORDER: Final = 1  # palette index of the border (a soft blend toward the text colour)
_PROMPT_PER_SIDE: Final = 1 / 40  # prompt font size as a fraction of the shorter side (24 px at 1024)
_CAPTION_PER_SIDE: Final = 1 / 60  # caption font size likewise (16 px at 1024)
_FONT_SIZES: Final = (8, 9, 10, 11, 12, 14, 16, 18, 20, 22, 24, 28, 32, 36, 40, 48, 56, 64, 72, 80, 96)
_ASCII_PRINTABLE: Final = frozenset(range(0x20, 0x7F))
_PLACEHOLDER_MARK: Final = "aiml-mock placeholder"


def _cmap_codepoints(font_bytes: bytes) -> frozenset[int]:
    """Code points the TrueType font maps to a real glyph (cmap format 4); printable ASCII if unreadable."""
    try:
        (num_tables,) = struct.unpack_from(">H", font_bytes, 4)
        for i in range(num_tables):
            tag, _, table, _ = struct.unpack_from(">4sIII", font_bytes, 12 + 16 * i)
            if tag == b"cmap":
                break
        else:
            return _ASCII_PRINTABLE
        (num_subtables,) = struct.unpack_from(">H", font_bytes, table + 2)
        for j in range(num_subtables):
            platform, encoding, sub = struct.unpack_from(">HHI", font_bytes, table + 4 + 8 * j)
            base = table + sub
            (fmt,) = struct.unpack_from(">H", font_bytes, base)
            if fmt != 4 or (platform, encoding) not in ((3, 1), (0, 3), (0, 4)):
                continue
            (seg_x2,) = struct.unpack_from(">H", font_bytes, base + 6)
            seg = seg_x2 // 2
            ends = struct.unpack_from(f">{seg}H", font_bytes, base + 14)
            starts = struct.unpack_from(f">{seg}H", font_bytes, base + 16 + seg_x2)
            deltas = struct.unpack_from(f">{seg}h", font_bytes, base + 16 + 2 * seg_x2)
            range_at = base + 16 + 3 * seg_x2
            offsets = struct.unpack_from(f">{seg}H", font_bytes, range_at)
            found: set[int] = set()
            for k in range(seg):
                for cp in range(starts[k], ends[k] + 1):
                    if cp == 0xFFFF:
                        continue
                    if offsets[k] == 0:
                        gid = (cp + deltas[k]) & 0xFFFF
                    else:
                        at = range_at + 2 * k + offsets[k] + 2 * (cp - starts[k])
                        (gid,) = struct.unpack_from(">H", font_bytes, at)
                        gid = (gid + deltas[k]) & 0xFFFF if gid else 0
                    if gid and cp >= 0x20:
                        found.add(cp)
            return frozenset(found) if _ASCII_PRINTABLE <= found else _ASCII_PRINTABLE
    except struct.error:
        pass
    return _ASCII_PRINTABLE


def _assign_slots(codepoints: frozenset[int]) -> dict[int, int]:
    """Map each drawable code point to a byte slot of the 256-glyph bitmap font (Latin-1 ones keep theirs)."""
    slots = {cp: cp for cp in codepoints if cp < 256 and (cp in _ASCII_PRINTABLE or cp >= 0xA0)}
    free = iter([*range(0x80, 0xA0), *range(0x01, 0x20)])
    for cp in sorted(cp for cp in codepoints if cp >= 256):
        slot = next(free, None)
        if slot is None:
            break
        slots[cp] = slot
    return slots


_BASE_FONT: Final = ImageFont.load_default(12)
if not isinstance(_BASE_FONT, ImageFont.FreeTypeFont):  # pragma: no cover - Pillow built without FreeType
    raise ImportError("aiml_mock.images needs Pillow with FreeType support")
_SLOTS: Final = _assign_slots(_cmap_codepoints(_BASE_FONT.font_bytes))
_ELLIPSIS: Final = chr(_SLOTS[0x2026]) if 0x2026 in _SLOTS else "..."
_QUANTIZE: Final = [(v * (_LEVELS - 1) + 127) // 255 for v in range(256)]


@dataclass(frozen=True, slots=True)
class _Font:
    """A bitmap font at one pixel size: glyph masks hold palette indices (0 = none .. 3 = full ink) directly."""

    core: Any  # PIL ImagingFont: getmask(text, mode) -> ImagingCore, getsize(text) -> (w, h)
    advances: bytes  # advance width per byte slot, as a bytes.translate table
    line_height: int  # distance between baselines
    mask_height: int  # height of every mask from core.getmask

    def width(self, text: str) -> int:
        """Advance width of already-sanitised text."""
        return sum(text.encode("latin-1").translate(self.advances))


@lru_cache(maxsize=len(_FONT_SIZES))
def _font(size: int) -> _Font:
    """Render every drawable glyph of Aileron at ``size`` px once into an atlas and wrap it as a bitmap font."""
    ft = ImageFont.load_default(size)
    assert isinstance(ft, ImageFont.FreeTypeFont)
    ascent, descent = ft.getmetrics()
    glyphs: list[tuple[int, str, int, int, int, int, int]] = []
    for cp, slot in sorted(_SLOTS.items(), key=lambda item: item[1]):
        ch = chr(cp)
        left, top, right, bottom = (int(v) for v in ft.getbbox(ch, anchor="ls"))
        if right <= left or bottom <= top:
            left = top = right = bottom = 0
        glyphs.append((slot, ch, round(ft.getlength(ch)), left, top, right, bottom))
    top_all = min([-ascent, *(g[4] for g in glyphs)])
    bottom_all = max([descent, *(g[6] for g in glyphs)])
    atlas = Image.new("L", (sum(g[5] - g[3] + 1 for g in glyphs) + 1, bottom_all - top_all + 1))
    draw = ImageDraw.Draw(atlas)
    metrics = bytearray(256 * 20)
    struct.pack_into(">10h", metrics, 0, 0, 0, 0, top_all, 0, bottom_all, 0, 0, 0, 0)  # fixes the mask height
    advances = [0] * 256
    x = 1
    for slot, ch, advance, left, top, right, bottom in glyphs:
        advances[slot] = advance
        if right > left:
            draw.text((x - left, -top_all), ch, font=ft, fill=255, anchor="ls")
            src = (x, top - top_all, x + right - left, bottom - top_all)
            x += right - left + 1
        else:
            src = (0, 0, 0, 0)
        struct.pack_into(">10h", metrics, slot * 20, advance, 0, left, top, right, bottom, *src)
    bitmap = ImageFont.ImageFont()  # a PIL bitmap font read from memory: header, 256 glyph metrics, atlas
    bitmap._load_pilfont_data(io.BytesIO(b"PILfont\n\nDATA\n" + metrics), atlas.point(_QUANTIZE))
    mask_height = bottom_all - top_all
    return _Font(bitmap.font, bytes(advances), mask_height + max(1, size // 5), mask_height)


def _snap_font_size(px: float) -> int:
    """Largest supported font size not above ``px`` (at least the smallest), so few atlases exist."""
    best = _FONT_SIZES[0]
    for size in _FONT_SIZES:
        if size <= px:
            best = size
    return best


# --------------------------------------------------------------------------------------------------------------
# Text: sanitise to font slots, then wrap.


class _SlotTable(dict[int, str]):
    """``str.translate`` table: drawable code points to their slot, whitespace to space, the rest to '?' or ''."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if ch.isspace():
            out = " "
        else:
            category = unicodedata.category(ch)
            # Marks left over after NFKD, controls and format characters (bidi overrides, ZWJ...) are invisible.
            out = "" if category[0] == "M" or category in ("Cc", "Cf") else "?"
        if len(self) < 8192:
            self[cp] = out
        return out


_TABLE: Final = _SlotTable({cp: chr(slot) for cp, slot in _SLOTS.items()})


def _sanitize(text: str) -> str:
    """Map any str (controls, emoji, RTL, lone surrogates...) to a single-spaced string of font slots."""
    if not (text.isascii() and text.isprintable()):
        if not text.isascii():
            # Compatibility decomposition turns accented letters, ligatures, full-width forms into drawable ASCII.
            text = unicodedata.normalize("NFKD", text)
        text = text.translate(_TABLE)
    return " ".join(text.split())


def _prefix_widths(font: _Font, text: str) -> list[int]:
    """``widths[i]`` = advance width of ``text[:i]`` (C-speed: a translate to advances, then accumulate)."""
    return list(accumulate(text.encode("latin-1").translate(font.advances), initial=0))


def _ellipsize(font: _Font, line: str, max_width: int) -> str:
    """``line`` shortened so that it plus an ellipsis fits; the ellipsis alone if nothing else does."""
    widths = _prefix_widths(font, line)
    ellipsis = font.width(_ELLIPSIS)
    if ellipsis > max_width:
        return line[: bisect.bisect_right(widths, max_width) - 1]
    return line[: bisect.bisect_right(widths, max_width - ellipsis) - 1].rstrip() + _ELLIPSIS


def _wrap(font: _Font, text: str, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap of single-spaced text into at most ``max_lines`` lines of at most ``max_width`` pixels.

    Words longer than a line are split; text left over is shown by ending the last line with an ellipsis.
    """
    if not text or max_lines <= 0 or max_width <= 0:
        return []
    widths = _prefix_widths(font, text)
    lines: list[str] = []
    start = line_start = 0
    end = len(text)
    while True:
        if text.startswith(" ", start):
            start += 1
        if start >= end:
            return lines
        if len(lines) == max_lines:
            break
        fits = bisect.bisect_right(widths, widths[start] + max_width) - 1  # text[start:fits] fits
        if fits >= end:
            lines.append(text[start:])
            return lines
        if fits == start:
            return lines  # not even one character fits on a line
        cut = text.rfind(" ", start, fits + 1)
        if cut <= start:
            cut = fits  # a word longer than the line: split it
        lines.append(text[start:cut])
        line_start, start = start, cut
    lines[-1] = _ellipsize(font, text[line_start:], max_width)
    return lines


# --------------------------------------------------------------------------------------------------------------
# Layout: colours, border, and the text band (the only rows that differ from the flat pattern).


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


# --------------------------------------------------------------------------------------------------------------
# PNG: hand-assembled 2-bit palette image with cached deflate segments for the flat rows.

_ADLER_MOD: Final = 65521
_DEFLATE_END: Final = b"\x03\x00"  # an empty final block with fixed Huffman codes
_BAND_LEVEL: Final = 1  # per-render text band: zlib level 1 is ~4 ns/byte here, level 6 ~10x slower for -15 %;
# run-length matches only (Z_RLE) make the whole render ~10 % faster for +15 % bytes.
_SEGMENT_BYTES: Final = 1 << 20  # raw size of the largest cached run of identical rows
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


def _adler_combine(first: int, second: int, second_length: int) -> int:
    """Adler-32 of A+B from adler32(A), adler32(B) and len(B) (what zlib's adler32_combine does)."""
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_MOD
    b = (b1 + b2 + second_length * (a1 - 1)) % _ADLER_MOD
    return (b << 16) | a


def _raw_deflate(data: bytes, level: int, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    """Raw deflate blocks for ``data`` ending byte-aligned and not final, so segments can be concatenated."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


class _RowRun:
    """Deflate segments for runs of copies of one scanline, built lazily and kept (colour-independent)."""

    __slots__ = ("_runs", "_segments", "_top", "row", "sums")

    def __init__(self, row: bytes) -> None:
        self.row = row
        self.sums = zlib.adler32(row, 0)  # the row's two Adler-32 sums, each started at 0
        self._top = max(0, (_SEGMENT_BYTES // len(row)).bit_length() - 1)
        self._segments: dict[int, bytes] = {}  # k -> 2**k rows
        self._runs: dict[int, tuple[tuple[bytes, ...], int]] = {}  # rows -> (segments, Adler-32)

    def _segment(self, k: int) -> bytes:
        segment = self._segments.get(k)
        if segment is None:  # racing threads may both build it; the results are identical
            segment = self._segments[k] = _raw_deflate(self.row * (1 << k), 9)
        return segment

    def run(self, rows: int) -> tuple[tuple[bytes, ...], int]:
        """Deflate segments that together encode ``rows`` (> 0) copies of the row, and their Adler-32."""
        found = self._runs.get(rows)
        if found is None:
            repeats, rest = divmod(rows, 1 << self._top)
            segments = [self._segment(self._top)] * repeats
            segments += [self._segment(k) for k in range(self._top - 1, -1, -1) if rest >> k & 1]
            total, weighted, length = self.sums & 0xFFFF, self.sums >> 16, len(self.row)
            a = 1 + rows * total
            b = rows * length + rows * weighted + length * total * (rows * (rows - 1) // 2)  # shifted repeats
            found = (tuple(segments), (b % _ADLER_MOD) << 16 | a % _ADLER_MOD)
            if len(self._runs) < 256:  # a size needs a handful (border, margins, line gaps)
                self._runs[rows] = found
        return found


@lru_cache(maxsize=64)
def _row_run(width: int, border: int, full: bool) -> _RowRun:
    """The flat scanline for a width: all border (``full``) or background with border columns at both sides."""
    row = Image.new("L", (_LEAD + width, 1), _BORDER if full else 0)
    row.paste(0, (0, 0, _LEAD, 1))
    if border and not full:
        row.paste(_BORDER, (_LEAD, 0, _LEAD + border, 1))
        row.paste(_BORDER, (_LEAD + width - border, 0, _LEAD + width, 1))
    return _RowRun(row.tobytes("raw", _PACK))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


_IEND: Final = _chunk(b"IEND", b"")


def _png(plan: _Plan) -> bytes:
    width, height, border = plan.width, plan.height, plan.border
    stride = len(_row_run(width, border, True).row)
    data: list[bytes] = [b"\x78\x9c"]
    adler = 1

    def add(run: _RowRun, rows: int) -> None:
        nonlocal adler
        if rows > 0:
            segments, run_adler = run.run(rows)
            data.extend(segments)
            adler = _adler_combine(adler, run_adler, rows * stride)

    edge, side = _row_run(width, border, True), _row_run(width, border, False)
    add(edge, border)
    y = border
    for top, bottom, (piece, piece_adler) in _band_pieces(plan) if plan.scale > 1 else _zlib_band_pieces(plan):
        add(side, top - y)
        data.append(piece)
        adler = _adler_combine(adler, piece_adler, (bottom - top) * stride)
        y = bottom
    add(side, height - border - y)
    add(edge, border)
    data += [_DEFLATE_END, adler.to_bytes(4, "big")]
    header = struct.pack(">IIBBBBB", width, height, _BITS, 3, 0, 0, 0)
    return b"".join(
        [_PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"PLTE", plan.palette), _chunk(b"IDAT", b"".join(data)), _IEND]
    )


_Piece = tuple[int, int, tuple[bytes, int]]  # first row, end row, (deflate data, Adler-32 of the rows)


def _zlib_band_pieces(plan: _Plan) -> list[_Piece]:
    """The text band at scale 1, deflated by zlib (its rows without ink cost zlib little: they repeat)."""
    if plan.band is None:
        return []
    raw = plan.band.tobytes("raw", _PACK)
    data = _raw_deflate(raw, _BAND_LEVEL, zlib.Z_RLE)
    return [(plan.band_y, plan.band_y + plan.band_height, (data, zlib.adler32(raw)))]


# --------------------------------------------------------------------------------------------------------------
# PNG of a scaled text band: a deflate block in which every code is whole bytes, written by bytes.translate.
#
# At scale 4 a drawn pixel is a whole PNG byte (4 pixels of one index): 4 byte values, given 4-bit Huffman
# codes, so two drawn pixels are one byte of deflate data. At scale 2 two drawn pixels are one PNG byte: 16
# values, given 8-bit codes. Either way, Pillow's "L;4" packing of a drawn line (two pixels a byte) turns into
# deflate data with one bytes.translate. The rest of each row and the scale - 1 copies of it are "copy from
# the row above" codes, whole bytes because each length symbol's code length tops its extra bits and the
# distance's up to a multiple of 8. The block header is padded to whole bytes and the block ends with a sync
# flush, so blocks and zlib's segments for the flat rows concatenate. A line costs a few C calls over its
# drawn pixels, whatever the image's size.

_LENGTH_BASE: Final = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
                       163, 195, 227, 258)
_LENGTH_EXTRA: Final = (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0)
_DISTANCE_BASE: Final = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                         2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577)
_CODE_LENGTH_ORDER_DEFLATE: Final = (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15)
_EOB: Final = 256
_MAX_CODE_BITS: Final = 15


def _complete(lengths: dict[int, int], spare: Iterable[int]) -> dict[int, int]:
    """``lengths`` plus lengths for ``spare`` symbols filling the rest of the code space (zlib wants it full)."""
    room = (1 << _MAX_CODE_BITS) - sum(1 << (_MAX_CODE_BITS - n) for n in lengths.values())
    assert room >= 0, "over-subscribed prefix code"
    spare_symbols = iter(spare)
    full = dict(lengths)
    for bits in range(1, _MAX_CODE_BITS + 1):
        if room >> (_MAX_CODE_BITS - bits) & 1:
            full[next(spare_symbols)] = bits
    return full


def _run_length(lengths: list[int]) -> list[tuple[int, int, int]]:
    """Code lengths as code-length symbols (symbol, extra value, extra bits): 17 and 18 code runs of zeros."""
    tokens: list[tuple[int, int, int]] = []
    at = 0
    while at < len(lengths):
        run = 1
        while at + run < len(lengths) and lengths[at + run] == lengths[at] == 0 and run < 138:
            run += 1
        if run >= 11:
            tokens.append((18, run - 11, 7))
        elif run >= 3:
            tokens.append((17, run - 3, 3))
        else:
            run = 1
            tokens.append((lengths[at], 0, 0))
        at += run
    return tokens


def _dynamic_header(literal_lengths: Mapping[int, int], distance_lengths: Mapping[int, int]) -> bytes:
    """A non-final dynamic-Huffman block header carrying these code lengths, padded to whole bytes.

    The padding knobs, tried in turn until the size is a multiple of 8: a few leading unused distance symbols
    sent one by one rather than as a run, unused symbols added to the code-length code, which of its symbols
    get the shorter codes, and more entries in its table (3 bits each).
    """
    literal = [literal_lengths.get(s, 0) for s in range(max(literal_lengths) + 1)]
    distance = [distance_lengths.get(s, 0) for s in range(max(distance_lengths) + 1)]
    for singles, extra, zero_first in itertools.product(range(8), range(3), (True, False)):
        assert not any(distance[:singles]), "padding needs leading unused distance symbols"
        tokens = _run_length(literal) + [(0, 0, 0)] * singles + _run_length(distance[singles:])
        used = sorted({symbol for symbol, _, _ in tokens})
        symbols = used + [s for s in range(19) if s not in used][:extra]
        depth = (len(symbols) - 1).bit_length()
        short = (1 << depth) - len(symbols)  # these get depth - 1 bits, the rest depth: a complete code
        ranked = sorted(symbols, key=lambda s: (s != 0) == zero_first)
        meta = {symbol: depth - (i < short) for i, symbol in enumerate(ranked)}
        payload = sum(meta[symbol] + bits for symbol, _, bits in tokens)
        smallest = max(4, 1 + max(_CODE_LENGTH_ORDER_DEFLATE.index(s) for s in symbols))
        hclen = next((n for n in range(smallest, 20) if (17 + 3 * n + payload) % 8 == 0), None)
        if hclen is None:
            continue
        codes = _canonical(meta)
        bits = _Bits()
        bits.put(0b100, 3)  # not final, dynamic Huffman codes
        bits.put(len(literal) - 257, 5)
        bits.put(len(distance) - 1, 5)
        bits.put(hclen - 4, 4)
        for symbol in _CODE_LENGTH_ORDER_DEFLATE[:hclen]:
            bits.put(meta.get(symbol, 0), 3)
        for symbol, value, extra_bits in tokens:
            bits.put(*codes[symbol])
            bits.put(value, extra_bits)
        assert bits.size % 8 == 0
        return bits.to_bytes()
    raise AssertionError("no byte-aligned block header")  # pragma: no cover - the padding always finds one


def _literal_lengths(scale: int, distance_extra: int) -> tuple[list[int], dict[int, int]]:
    """(PNG byte values a scaled line uses, code lengths for them, end of block and every length symbol)."""
    if scale == 4:  # a drawn pixel is a PNG byte: a pair of them, two 4-bit codes
        values, bits = [0x55 * a for a in range(_LEVELS)], 4
    else:  # a pair of drawn pixels is a PNG byte: one 8-bit code
        values, bits = [0x50 * a | 0x05 * b for a in range(_LEVELS) for b in range(_LEVELS)], 8
    lengths = dict.fromkeys(values, bits)
    lengths[_EOB] = 8  # once a line
    for i, extra in enumerate(_LENGTH_EXTRA):
        # A copy is its length code, the length's extra bits, a 1-bit distance code and the distance's extra
        # bits: each length code gets a size that makes that a multiple of 8. Length 258 (the last symbol)
        # repeats rows, so its code is as short as it can be; the others are rare, at least 6 bits.
        need = (7 - extra - distance_extra) % 8
        lengths[257 + i] = need if need >= (2 if i == 28 else 6) else need + 8
    return values, _complete(lengths, [v for v in range(256) if v not in lengths])  # unused literals fill it


class _ByteCode:
    """The Huffman code, translate table and copy codes for PNG rows of one width at one text scale."""

    def __init__(self, width: int, scale: int) -> None:
        self.scale = scale
        self.stride = stride = 1 + (width * _BITS + 7) // 8  # filter byte + packed row
        distance = bisect.bisect_right(_DISTANCE_BASE, stride) - 1
        distance_extra = max(0, distance // 2 - 1)
        values, lengths = _literal_lengths(scale, distance_extra)
        codes = _canonical(lengths)
        distance_lengths = {distance: 1, (distance + 1) % 30: 1}  # the one distance used, and an unused one
        self.header = _dynamic_header(lengths, distance_lengths)

        table = bytearray(256)  # "L;4" byte of two drawn pixels a, b -> deflate byte
        for a in range(_LEVELS):
            for b in range(_LEVELS):
                if scale == 4:
                    table[a << 4 | b] = codes[values[a]][0] | codes[values[b]][0] << 4
                else:
                    table[a << 4 | b] = codes[values[a * _LEVELS + b]][0]
        self.pairs = bytes(table)

        distance_code = _canonical(distance_lengths)[distance]
        self._tokens = [b""] * 259  # length -> the code copying that many bytes from one row above
        for length in range(3, 259):
            i = 28 if length == 258 else bisect.bisect_right(_LENGTH_BASE, length) - 1
            bits = _Bits()
            bits.put(*codes[257 + i])
            bits.put(length - _LENGTH_BASE[i], _LENGTH_EXTRA[i])
            bits.put(*distance_code)
            bits.put(stride - _DISTANCE_BASE[distance], distance_extra)
            assert bits.size % 8 == 0, "a copy code must be whole bytes"
            self._tokens[length] = bits.to_bytes()
        end = _Bits()
        end.put(*codes[_EOB])
        end.put(0, 3)  # an empty stored block follows (a sync flush), so the next piece starts on a byte
        self.tail = end.to_bytes() + b"\x00\x00\xff\xff"

    def copy(self, length: int) -> bytes:
        """Codes that repeat ``length`` (>= 3) bytes from one row above."""
        full, rest = divmod(length, 258)
        if 0 < rest < 3:  # too short for a code of its own: split the last full copy in two
            return self._tokens[258] * (full - 1) + self._tokens[130] + self._tokens[128 + rest]
        return self._tokens[258] * full + self._tokens[rest]

    def adler(self, values: bytes, width: int, before: int, flat: int) -> int:
        """Adler-32 of the PNG rows of one line: its drawn rows, each ``scale`` times, in flat rows.

        ``values`` holds the line's drawn rows, ``width`` bytes each, a PNG byte being ``unit`` times a value;
        they sit from byte ``before`` of rows that are otherwise the flat row, whose ``zlib.adler32(row, 0)``
        is ``flat``. Adler-32's two sums are linear in the bytes, so they follow from three sums over the
        values: plain, weighted by row and weighted by column. ``zlib.adler32(data, 0)`` returns the plain sum
        and the sum weighted by distance to the end: over the rows top-down and bottom-up, that gives the other
        two.
        """
        scale, stride, mod = self.scale, self.stride, _ADLER_MOD
        rows = len(values) // width
        down = zlib.adler32(values, 0)
        up = zlib.adler32(b"".join([values[i : i + width] for i in range(len(values) - width, -1, -width)]), 0)
        total = down & 0xFFFF
        # down's weighted sum is rows * width * total - width * by_row - by_column; up's has + width * by_row.
        by_row = ((up >> 16) - (down >> 16) + width * (rows - 1) * total) * pow(2 * width, -1, mod)
        by_column = ((rows + 1) * width * total - (down >> 16) - (up >> 16)) * pow(2, -1, mod)
        unit = 0x55 if scale == 4 else 0x05  # a PNG byte is this times a drawn pixel (scale 4) or "L;4" pair (2)
        flat_sum = flat & 0xFFFF
        flat_by_column = stride * flat_sum - (flat >> 16)
        count = scale * rows  # PNG rows
        length = count * stride
        # Over the PNG bytes x[p]: a = 1 + sum x[p] and b = length + sum (length - p) x[p], where PNG row t is
        # the flat row plus `unit` times drawn row t // scale from byte `before`.
        a = 1 + count * flat_sum + unit * scale * total
        b = (
            length
            + count * length * flat_sum
            - stride * flat_sum * (count * (count - 1) // 2)
            - count * flat_by_column
            + unit
            * (
                scale * (length - before) * total
                - stride * scale * scale * by_row
                - stride * (scale * (scale - 1) // 2) * total
                - scale * by_column
            )
        )
        return (b % mod) << 16 | a % mod


@lru_cache(maxsize=64)
def _byte_code(width: int, scale: int) -> _ByteCode:
    return _ByteCode(width, scale)


def _pack(core: Any, rawmode: str) -> bytes:
    """``Image.tobytes("raw", rawmode)`` of an "L" ImagingCore such as a glyph mask, without an Image around it."""
    encoder = _pil_core.raw_encoder("L", rawmode)
    encoder.setimage(core, (0, 0, *core.size))
    chunks: list[bytes] = []
    status = 0
    while not status:
        _, status, chunk = encoder.encode(max(65536, 4 * core.size[0]))
        chunks.append(chunk)
    if status < 0:  # pragma: no cover - Pillow's raw encoder does not fail on a valid image
        raise RuntimeError(f"raw encoder error {status}")
    return b"".join(chunks)


def _line_piece(mask: Any, x: int, origin: int, width: int, border: int, scale: int) -> _LinePiece | None:
    """One text line's rows with ink, at scale 2 or 4, as a byte-coded deflate block (None: no ink).

    The row above the first must be a flat one: a blank row always separates two lines (line spacing), and
    the band from the border (margins).
    """
    box = mask.getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    code = _byte_code(width, scale)
    stride = code.stride
    first, end = (x + left) & ~1, (x + right + 1) & ~1  # whole pairs of drawn pixels
    drawn = mask.crop((first - x, top, end - x, bottom))  # zeros where the box passes the mask
    packed = _pack(drawn, "L;4")
    columns = (end - first) // 2  # bytes of a packed row
    before = 1 + (origin + scale * first) // 4  # PNG bytes left of the line: filter byte, then pixels
    after = stride - before - scale * columns // 2
    coded = packed.translate(code.pairs)
    body = code.copy(after + (scale - 1) * stride + before).join(
        [coded[i : i + columns] for i in range(0, len(coded), columns)]
    )
    data = b"".join([code.header, code.copy(before), body, code.copy(after + (scale - 1) * stride), code.tail])
    flat = _row_run(width, border, False).sums
    if scale == 2:  # a packed byte is 1/5 of a PNG byte
        adler = code.adler(packed, columns, before, flat)
    else:  # a drawn pixel is 1/85 of a PNG byte
        adler = code.adler(_pack(drawn, "L"), 2 * columns, before, flat)
    return top, bottom, data, adler


_LinePiece = tuple[int, int, bytes, int]  # first mask row, end mask row, deflate data, Adler-32 of the PNG rows
# The caption's masks are cached (they repeat across prompts), so are their blocks, keyed by the mask itself.
_cached_line_piece: Final = lru_cache(maxsize=128)(_line_piece)


def _band_pieces(plan: _Plan) -> list[_Piece]:
    """The text band at scale 2 or 4: a byte-coded deflate block per line; the rows between are flat."""
    pieces: list[_Piece] = []
    scale = plan.scale
    for number, (mask, x, y) in enumerate(plan.lines):
        encode = _cached_line_piece if number >= len(plan.lines) - plan.cached else _line_piece
        piece = encode(mask, x, plan.origin, plan.width, plan.border, scale)
        if piece is not None:
            top, bottom, data, adler = piece
            start = plan.band_y + scale * y
            pieces.append((start + scale * top, start + scale * bottom, (data, adler)))
    return pieces


# --------------------------------------------------------------------------------------------------------------
# JPEG: baseline, one restart interval per 16-row MCU row. Pillow encodes the MCU rows holding text or border;
# the flat MCU row is encoded once and repeated; the intervals are joined with renumbered RST markers.

_JPEG_QUALITY: Final = 70
_MCU: Final = 16  # MCU height with 4:2:0 chroma subsampling
_RST: Final = re.compile(rb"\xff[\xd0-\xd7]")


def _rows(plan: _Plan, top: int, bottom: int) -> Image.Image:
    """Rows ``[top, bottom)`` of the image as an RGB Pillow image."""
    width, border = plan.width, plan.border
    im = Image.new("L", (width, bottom - top))
    if border:
        im.paste(_BORDER, (0, 0, border, bottom - top))
        im.paste(_BORDER, (width - border, 0, width, bottom - top))
        if top < border:
            im.paste(_BORDER, (0, 0, width, border - top))
        if bottom > plan.height - border:
            im.paste(_BORDER, (0, max(0, plan.height - border - top), width, bottom - top))
    if plan.band is not None:
        start, end = max(top, plan.band_y), min(bottom, plan.band_y + plan.band.height)
        if start < end:
            band = plan.band.crop((_LEAD, start - plan.band_y, _LEAD + width, end - plan.band_y))
            im.paste(band, (0, start - top))
    im.putpalette(plan.palette)
    return im.convert("RGB")


def _encode_jpeg(im: Image.Image, restart: bool) -> bytes:
    out = io.BytesIO()
    options: dict[str, Any] = {"restart_marker_rows": 1} if restart else {}
    im.save(out, "JPEG", quality=_JPEG_QUALITY, subsampling=2, optimize=False, progressive=False, **options)
    return out.getvalue()


def _split_jpeg(data: bytes) -> tuple[bytes, int, list[bytes]] | None:
    """(header through SOS, offset of the SOF height field, entropy-coded restart intervals) of a baseline JPEG."""
    at = 2
    sof_height = -1
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (length,) = struct.unpack_from(">H", data, at + 2)
        if marker == 0xC0:
            sof_height = at + 5
        elif marker in (0xC1, 0xC2, 0xC3) or (0xC5 <= marker <= 0xCF and marker != 0xCC):
            return None  # not baseline Huffman
        at += 2 + length
        if marker == 0xDA:
            if sof_height < 0 or data[-2:] != b"\xff\xd9":
                return None
            return data[:at], sof_height, _RST.split(data[at:-2])
    return None


def _jpeg(plan: _Plan) -> bytes:
    height, border = plan.height, plan.border
    mcu_rows = -(-height // _MCU)
    special = {0, mcu_rows - 1}
    ranges = [(0, border), (height - border, height)]
    ranges += [(plan.band_y + top, plan.band_y + bottom) for top, bottom in plan.ink]
    for top, bottom in ranges:
        special.update(range(top // _MCU, -(-bottom // _MCU)))
    flat_row = next((row for row in range(mcu_rows) if row not in special), None)
    flat = None
    if flat_row is not None:
        flat = _split_jpeg(_encode_jpeg(_rows(plan, flat_row * _MCU, (flat_row + 1) * _MCU), restart=True))
    if flat is None or len(flat[2]) != 1:  # no flat MCU row (small images), or an unexpected encoder
        return _encode_jpeg(_rows(plan, 0, height), restart=False)
    intervals: list[bytes] = []
    header, sof_height = b"", 0
    runs: list[list[int]] = []  # [first, last] of each stretch of consecutive special MCU rows
    for row in sorted(special):
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    for first, last in runs:
        intervals.extend(flat[2] * (first - len(intervals)))
        strip = _split_jpeg(_encode_jpeg(_rows(plan, first * _MCU, min(height, (last + 1) * _MCU)), restart=True))
        if strip is None or len(strip[2]) != last - first + 1:  # pragma: no cover - unexpected encoder
            return _encode_jpeg(_rows(plan, 0, height), restart=False)
        header, sof_height = strip[0], strip[1]
        intervals.extend(strip[2])
    header = header[:sof_height] + struct.pack(">H", height) + header[sof_height + 2 :]
    markers = [bytes((0xFF, 0xD0 + i)) for i in range(8)]
    body = [header]
    for i, interval in enumerate(intervals[:-1]):
        body.append(interval)
        body.append(markers[i % 8])
    body.append(intervals[-1])
    body.append(b"\xff\xd9")
    return b"".join(body)


# --------------------------------------------------------------------------------------------------------------
# WebP: a hand-written lossless (VP8L) stream. Pillow's encoder takes 5-25 ms at 1024x1024 and ~10 bytes per
# pixel (~650 MB, ~1.4 s at 8192x8192); this costs about what the PNG path does, with O(width x band) memory.
# The palette is a colour-indexing transform (4 pixels per coded byte). Rows are grouped in 4-row tiles: a tile
# row whose rows all repeat the row above uses a prefix-code group where "copy the row above" costs 0 bits (plus
# the length's extra bits); every other tile row uses 8-bit codes for all 256 bytes, so it is a bytes.translate.


class _Bits:
    """LSB-first bit writer: small fields go to an int accumulator, big parts are merged pairwise at the end."""

    __slots__ = ("_length", "_parts", "_value")

    def __init__(self) -> None:
        self._value = 0
        self._length = 0
        self._parts: list[tuple[int, int]] = []

    def put(self, value: int, bits: int) -> None:
        self._value |= value << self._length
        self._length += bits

    @property
    def size(self) -> int:
        """Bits written so far."""
        return sum(bits for _, bits in self._parts) + self._length

    def _put_big(self, value: int, bits: int) -> None:
        if self._length:
            self._parts.append((self._value, self._length))
            self._value = self._length = 0
        self._parts.append((value, bits))

    def put_bytes(self, data: bytes) -> None:
        self._put_big(int.from_bytes(data, "little"), 8 * len(data))

    def put_repeated(self, pattern: int, bits: int, count: int) -> None:
        """Append ``count`` copies of a ``bits``-bit pattern (by doubling, so O(total) work)."""
        value, length = 0, 0
        block, block_bits = pattern, bits
        while count > 0:
            if count & 1:
                value |= block << length
                length += block_bits
            count >>= 1
            if count:
                block |= block << block_bits
                block_bits *= 2
        self._put_big(value, length)

    def put_simple_code(self, symbol: int) -> None:
        """A prefix code with a single symbol below 256, which then costs zero bits per use."""
        wide = symbol > 1
        self.put(1, 1)  # simple code
        self.put(0, 1)  # one symbol
        self.put(int(wide), 1)
        self.put(symbol, 8 if wide else 1)

    def to_bytes(self) -> bytes:
        parts = [*self._parts, (self._value, self._length)]
        while len(parts) > 1:
            merged = [(v1 | v2 << b1, b1 + b2) for (v1, b1), (v2, b2) in zip(parts[::2], parts[1::2], strict=False)]
            if len(parts) & 1:
                merged.append(parts[-1])
            parts = merged
        value, bits = parts[0]
        return value.to_bytes(-(-bits // 8), "little")


def _canonical(lengths: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Canonical prefix codes {symbol: (code as stored LSB-first, bit count)} from {symbol: length}."""
    codes: dict[int, tuple[int, int]] = {}
    code = previous = 0
    for symbol, length in sorted(((s, n) for s, n in lengths.items() if n), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        codes[symbol] = (int(f"{code:0{length}b}"[::-1], 2), length)
        code, previous = code + 1, length
    return codes


_CODE_LENGTH_ORDER: Final = (17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
_GREEN_ALPHABET: Final = 256 + 24  # literals and LZ77 length prefixes (no colour cache)


@lru_cache(maxsize=64)
def _normal_code(alphabet: int, lengths: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """(bits, bit count) of a VP8L "normal" prefix code; ``lengths`` lists (symbol, length), others get none.

    The lengths used must be complete (Kraft sum 1), or a single symbol, which then costs zero bits per use.
    """
    full = [0] * alphabet
    for symbol, length in lengths:
        full[symbol] = length
    values = sorted({0, *full})
    meta = _canonical(dict(zip(values, {2: (1, 1), 3: (1, 2, 2), 4: (2, 2, 2, 2)}[len(values)], strict=True)))
    count = max(4, 1 + max(_CODE_LENGTH_ORDER.index(v) for v in values))
    bits = _Bits()
    bits.put(0, 1)  # normal code
    bits.put(count - 4, 4)
    for value in _CODE_LENGTH_ORDER[:count]:
        bits.put(meta[value][1] if value in meta else 0, 3)
    bits.put(0, 1)  # a length for every symbol of the alphabet follows
    for length in full:
        bits.put(*meta[length])
    return bits._value, bits._length


_FLAT_GREEN: Final = tuple((symbol, 8) for symbol in range(256))  # every byte value an 8-bit code


def _vp8l_length(length: int) -> tuple[int, int, int]:
    """(prefix symbol, extra-bit count, extra-bit value) of an LZ77 length in VP8L."""
    value = length - 1
    if value < 4:
        return value, 0, 0
    high = value.bit_length() - 1
    extra_bits = high - 1
    return 2 * high + (value >> extra_bits & 1), extra_bits, value & ((1 << extra_bits) - 1)


def _vp8_byte(png: int) -> int:
    """A PNG-packed byte of four 2-bit indices (first pixel high) as VP8L bundles them (first pixel low)."""
    return (png >> 6) | (png >> 2 & 0x0C) | (png << 2 & 0x30) | (png << 6 & 0xC0)


_BITREV: Final = [int(f"{v:08b}"[::-1], 2) for v in range(256)]
_VP8L_TABLE: Final = bytes(_BITREV[_vp8_byte(png)] for png in range(256))  # PNG byte -> its 8-bit code, stored
_TILE_BITS: Final = 2  # 4x4 tiles of bundled pixels (4 rows, 16 image pixels)


def _webp(plan: _Plan) -> bytes:
    """Lossless WebP (VP8L) written directly; pixel-identical to the PNG."""
    width, height, border = plan.width, plan.height, plan.border
    packed = -(-width // 4)
    bits = _Bits()
    bits.put(0x2F, 8)
    bits.put(width - 1, 14)
    bits.put(height - 1, 14)
    bits.put(0, 1)  # no alpha
    bits.put(0, 3)  # version
    bits.put(1, 1)  # a transform:
    bits.put(3, 2)  # colour indexing,
    bits.put(_LEVELS - 1, 8)  # with this many colours, as a _LEVELS x 1 image: no colour cache, 8-bit codes
    bits.put(0, 1)
    bits.put(*_normal_code(_GREEN_ALPHABET, _FLAT_GREEN))
    for _ in range(3):
        bits.put(*_normal_code(256, _FLAT_GREEN))
    bits.put_simple_code(0)
    previous = (0, 0, 0)
    for i in range(_LEVELS):  # subtraction-coded ARGB entries, each coded green, red, blue, alpha
        rgb = (plan.palette[3 * i], plan.palette[3 * i + 1], plan.palette[3 * i + 2])
        red, green, blue = ((c - p) & 0xFF for c, p in zip(rgb, previous, strict=True))
        alpha = 0xFF if i == 0 else 0
        bits.put(_BITREV[green] | _BITREV[red] << 8 | _BITREV[blue] << 16 | _BITREV[alpha] << 24, 32)
        previous = rgb
    bits.put(0, 1)  # no more transforms
    bits.put(0, 1)  # main image: no colour cache

    # The image as runs: (one row repeated, count, True) or (that many distinct rows, count, False); then the
    # spans of 4-row tile rows that lie wholly on repeats of the row above.
    edge = _row_run(width, border, True).row[1:]
    side = _row_run(width, border, False).row[1:]
    runs: list[tuple[bytes, int, bool]] = [(edge, border, True)]
    y = border
    if plan.band is not None and plan.ink:
        raw = plan.band.crop((_LEAD, 0, _LEAD + width, plan.band.height)).tobytes("raw", _PACK)
        for top, bottom in plan.ink:
            runs.append((side, plan.band_y + top - y, True))
            runs.append((raw[top * packed : bottom * packed], bottom - top, False))
            y = plan.band_y + bottom
    runs.append((side, height - border - y, True))
    runs.append((edge, border, True))
    runs = [run for run in runs if run[1] > 0]
    tile = 1 << _TILE_BITS
    tile_rows = -(-height // tile)
    spans: list[tuple[int, int, bool]] = []  # (first tile row, end tile row, copy?) covering all tile rows
    at = y = 0
    for _, count, repeated in runs:
        first, end = -(-(y + 1) // tile), (y + count) // tile
        if repeated and first < end:
            if at < first:
                spans.append((at, first, False))
            spans.append((first, end, True))
            at = end
        y += count
    if at < tile_rows:
        spans.append((at, tile_rows, False))

    prefix, extra_bits, extra = _vp8l_length(packed)
    if len(spans) > 1 or spans[0][2]:
        bits.put(1, 1)  # meta prefix codes: an entropy image of 4x4 tiles picks group 0 (literal) or 1 (copy)
        bits.put(_TILE_BITS - 2, 3)
        tiles_wide = -(-packed // tile)
        row_prefix, row_extra_bits, row_extra = _vp8l_length(tiles_wide)
        entropy_lengths = ((0, 1), (1, 2), (256 + row_prefix, 2))
        codes = _canonical(dict(entropy_lengths))
        bits.put(0, 1)  # entropy image: no colour cache
        bits.put(*_normal_code(_GREEN_ALPHABET, entropy_lengths))
        for _ in range(4):  # red, blue, alpha, distance ("the pixel above")
            bits.put_simple_code(0)
        copy_code, copy_code_bits = codes[256 + row_prefix]
        for first, end, copy in spans:  # one literal row of tiles per span, then copies of it
            bits.put_repeated(*codes[int(copy)], tiles_wide)
            bits.put_repeated(copy_code | row_extra << copy_code_bits, copy_code_bits + row_extra_bits, end - first - 1)
        groups = [False, True]
    else:
        bits.put(0, 1)
        groups = [False]
    for copy in groups:
        if copy:  # green is only the length symbol, red/blue/alpha unused, distance "the pixel above"
            bits.put(*_normal_code(_GREEN_ALPHABET, ((256 + prefix, 1),)))
        else:  # green: 8-bit codes for every byte; red, blue constant 0; alpha 255 (ignored under a palette)
            bits.put(*_normal_code(_GREEN_ALPHABET, _FLAT_GREEN))
        for symbol in (0, 0, 0xFF if not copy else 0, 0):
            bits.put_simple_code(symbol)

    starts = [0]
    for _, count, _ in runs:
        starts.append(starts[-1] + count)
    for first, end, copy in spans:
        top, bottom = first * tile, min(height, end * tile)
        if copy:
            bits.put_repeated(extra, extra_bits, bottom - top)
            continue
        chunk: list[bytes] = []
        index = bisect.bisect_right(starts, top) - 1
        while top < bottom:
            data, count, repeated = runs[index]
            take = min(bottom, starts[index] + count) - top
            skip = top - starts[index]
            chunk.append(data * take if repeated else data[skip * packed : (skip + take) * packed])
            top += take
            index += 1
        bits.put_bytes(b"".join(chunk).translate(_VP8L_TABLE))
    data = bits.to_bytes()
    chunk_data = b"VP8L" + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk_data)) + b"WEBP" + chunk_data


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
        return _png(plan)
    if spec.fmt == "jpeg":
        return _jpeg(_unscaled(plan))
    return _webp(_unscaled(plan))


# --------------------------------------------------------------------------------------------------------------
# Cache


_ENTRY_OVERHEAD: Final = 256  # rough bytes per entry for the key, the ordered-dict node and object headers


class ImageCache:
    """LRU cache of rendered images and their base64 text, bounded by total bytes.

    Thread-safe: a lock guards the bookkeeping only, so renders run outside it (two threads missing the same
    spec may both render it; the result is identical). An entry costs its payload length plus the length of
    the spec's strings plus a fixed overhead; payloads larger than the whole budget are returned uncached.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[ImageSpec | tuple[ImageSpec], tuple[bytes | str, int]] = OrderedDict()
        self._size = 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def size_bytes(self) -> int:
        """Accounted bytes currently held (always <= ``max_bytes``)."""
        return self._size

    def __len__(self) -> int:
        """Number of entries (image bytes and base64 texts count separately)."""
        return len(self._entries)

    def __contains__(self, spec: object) -> bool:
        """Whether the image bytes of ``spec`` are cached."""
        with self._lock:
            return spec in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def _lookup(self, key: ImageSpec | tuple[ImageSpec]) -> bytes | str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def _store(self, key: ImageSpec | tuple[ImageSpec], spec: ImageSpec, value: bytes | str) -> None:
        cost = len(value) + len(spec.text) + len(spec.model) + len(spec.label) + _ENTRY_OVERHEAD
        if cost > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._entries[key] = (value, cost)
            self._size += cost
            while self._size > self._max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= evicted

    def get(self, spec: ImageSpec) -> bytes:
        """The image bytes for ``spec``: rendered on a miss, from memory on a hit."""
        cached = self._lookup(spec)
        if isinstance(cached, bytes):
            return cached
        data = render_image(spec)
        self._store(spec, spec, data)
        return data

    def get_b64(self, spec: ImageSpec) -> str:
        """Base64 (ASCII) of ``get(spec)``, cached too so repeated ``b64_json`` answers cost a lookup."""
        key = (spec,)
        cached = self._lookup(key)
        if isinstance(cached, str):
            return cached
        text = base64.b64encode(self.get(spec)).decode("ascii")
        self._store(key, spec, text)
        return text
