"""JPEG: baseline, stitched from restart intervals so only the MCU rows with text are encoded."""

from __future__ import annotations

import io
import re
import struct
from typing import Any, Final

from PIL import Image

from aiml_mock.core.images._band import _Plan
from aiml_mock.core.images._spec import _BORDER, _JPEG_QUALITY, _LEAD

# JPEG: baseline, one restart interval per 16-row MCU row. Pillow encodes the MCU rows holding text or border;
# the flat MCU row is encoded once and repeated; the intervals are joined with renumbered RST markers.

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


