"""Text: sanitise any str to the font's slots, then wrap and ellipsize it to what fits."""

from __future__ import annotations

import bisect
import unicodedata
from itertools import accumulate
from typing import Final

from aiml_mock.core.images._fonts import _ELLIPSIS, _SLOTS, _Font


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

