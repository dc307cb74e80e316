"""Flat scanlines (border rows, background with border columns) and their deflate data, kept per width.

Every row outside the text band is one of two colour-independent byte patterns, so runs of them are
deflated once and reused by the PNG writers; the WebP writer reuses the rows themselves."""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Final

from PIL import Image

from aiml_mock.core.images._spec import _BORDER, _LEAD, _PACK

_ADLER_MOD: Final = 65521
_SEGMENT_BYTES: Final = 1 << 20  # raw size of the largest cached run of identical rows

_Piece = tuple[int, int, tuple[bytes, int]]  # first row, end row, (deflate data, Adler-32 of the rows)


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

