"""What determines one placeholder image (the cache key), its formats and the palette's indices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

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
    transparent: bool = False  # background fully transparent (png and webp; a jpeg is drawn opaque)

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


# The palette image every format encodes: indices 0 (background) .. _LEVELS - 1 (text), packed like PNG rows.
_BITS: Final = 2  # PNG bit depth: 4 palette entries, enough anti-aliasing while halving the bytes of 4-bit
_PACK: Final = f"L;{_BITS}"  # Pillow raw mode that packs "L" values 0..3 like PNG scanlines
_LEAD: Final = 8 // _BITS  # leading zero pixels per band row: they pack into the PNG filter byte (0 = None)
_LEVELS: Final = 1 << _BITS  # palette entries: 0 = background, last = text, in between = anti-aliasing blends
_BORDER: Final = 1  # palette index of the border (a soft blend toward the text colour)
_JPEG_QUALITY: Final = 70  # both renderers encode JPEG baseline at this quality, 4:2:0
