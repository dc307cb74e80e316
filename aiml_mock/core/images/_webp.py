"""WebP: a hand-written lossless (VP8L) stream, pixel-identical to the PNG."""

from __future__ import annotations

import bisect
import struct
from functools import lru_cache
from typing import Final

from aiml_mock.core.images._band import _Plan
from aiml_mock.core.images._bits import _Bits, _canonical
from aiml_mock.core.images._flat import _row_run
from aiml_mock.core.images._spec import _LEAD, _LEVELS, _PACK

# WebP: a hand-written lossless (VP8L) stream. Pillow's encoder takes 5-25 ms at 1024x1024 and ~10 bytes per
# pixel (~650 MB, ~1.4 s at 8192x8192); this costs about what the PNG path does, with O(width x band) memory.
# The palette is a colour-indexing transform (4 pixels per coded byte). Rows are grouped in 4-row tiles: a tile
# row whose rows all repeat the row above uses a prefix-code group where "copy the row above" costs 0 bits (plus
# the length's extra bits); every other tile row uses 8-bit codes for all 256 bytes, so it is a bytes.translate.

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
