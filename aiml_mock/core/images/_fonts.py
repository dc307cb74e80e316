"""Fonts: Pillow bitmap fonts built from the built-in Aileron TrueType font, one atlas per pixel size."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from PIL import ImageFont

from aiml_mock.core.images._spec import _LEVELS

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
    raise ImportError("aiml_mock.core.images needs Pillow with FreeType support")
_SLOTS: Final = _assign_slots(_cmap_codepoints(_BASE_FONT.font_bytes))
_ELLIPSIS: Final = chr(_SLOTS[0x2026]) if 0x2026 in _SLOTS else "..."
_QUANTIZE: Final = [(v * (_LEVELS - 1) + 127) // 255 for v in range(256)]


_Glyph = tuple[int, str, int, int, int, int, int]  # slot, character, advance, left, top, right, bottom


@dataclass(frozen=True, slots=True)
class _Font:
    """Aileron at one pixel size: advances, line metrics and each glyph's box, from public FreeType calls only.

    A line of text is drawn as every renderer draws it: glyphs placed one by one at whole-pixel advances (no
    kerning), each glyph's box pasted over what is there, in a mask ``width(text)`` wide and ``mask_height``
    high whose row 0 lies ``-top`` px above the baseline; values are palette indices (0 = none .. 3 = ink).
    """

    size: int
    advances: bytes  # advance width per byte slot, as a bytes.translate table
    line_height: int  # distance between baselines
    mask_height: int  # height of every line's mask
    top: int  # the highest point of any glyph (or the ascent), relative to the baseline (negative: above it)
    glyphs: tuple[_Glyph, ...]  # every drawable slot, in slot order

    def width(self, text: str) -> int:
        """Advance width of already-sanitised text."""
        return sum(text.encode("latin-1").translate(self.advances))


@lru_cache(maxsize=len(_FONT_SIZES))
def _freetype(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in Aileron at ``size`` px."""
    ft = ImageFont.load_default(size)
    assert isinstance(ft, ImageFont.FreeTypeFont)
    return ft


@lru_cache(maxsize=len(_FONT_SIZES))
def _font(size: int) -> _Font:
    """Measure every drawable glyph of Aileron at ``size`` px once."""
    ft = _freetype(size)
    ascent, descent = ft.getmetrics()
    glyphs: list[_Glyph] = []
    for cp, slot in sorted(_SLOTS.items(), key=lambda item: item[1]):
        ch = chr(cp)
        left, top, right, bottom = (int(v) for v in ft.getbbox(ch, anchor="ls"))
        if right <= left or bottom <= top:
            left = top = right = bottom = 0
        glyphs.append((slot, ch, round(ft.getlength(ch)), left, top, right, bottom))
    top_all = min([-ascent, *(g[4] for g in glyphs)])
    bottom_all = max([descent, *(g[6] for g in glyphs)])
    advances = [0] * 256
    for glyph in glyphs:
        advances[glyph[0]] = glyph[2]
    mask_height = bottom_all - top_all
    return _Font(size, bytes(advances), mask_height + max(1, size // 5), mask_height, top_all, tuple(glyphs))


def _snap_font_size(px: float) -> int:
    """Largest supported font size not above ``px`` (at least the smallest), so few atlases exist."""
    best = _FONT_SIZES[0]
    for size in _FONT_SIZES:
        if size <= px:
            best = size
    return best

