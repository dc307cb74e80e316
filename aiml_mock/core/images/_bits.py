"""An LSB-first bit writer and canonical prefix codes, shared by the deflate and VP8L writers."""

from __future__ import annotations

from collections.abc import Mapping


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

