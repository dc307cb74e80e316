"""PNG of a scaled text band: deflate blocks in which every code is whole bytes."""

from __future__ import annotations

import bisect
import itertools
import zlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Final

from PIL import _imaging as _pil_core  # Pillow's C module: its raw encoder packs a mask without an Image

from aiml_mock.core.images._band import _Plan
from aiml_mock.core.images._bits import _Bits, _canonical
from aiml_mock.core.images._flat import _ADLER_MOD, _Piece, _row_run
from aiml_mock.core.images._spec import _BITS, _LEVELS

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


