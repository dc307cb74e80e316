"""Streamed image answers (`stream: true` on the GPT image models): the server-sent events, each built when it is
due (`StreamPlan`). Pure.

OpenAI streams `partial_images` (0-3) `<kind>.partial_image` events, then one `<kind>.completed` event with
`usage`, per image (`kind`: `image_generation` or `image_edit`). The partial images here are real images of the
final size getting sharper: the final picture shrunk by 4^k and blown back up (blocky, then less so), encoded in
the requested format. The event shapes are the contract's (`contracts/openai.yaml`: `ImageStreamEvent.*`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson
from PIL import Image

MAX_PARTIALS = 3
_PARTIAL_OPTIONS: dict[str, dict[str, Any]] = {"jpeg": {"quality": 80}, "webp": {"quality": 80, "method": 0}}  # fastest
PARTIAL_EVENT, COMPLETED_EVENT = "partial_image", "completed"


class Frame(NamedTuple):
    """One server-sent event as it goes on the wire, with its type (for the journal)."""

    type: str
    data: bytes


def frame(event_type: str, payload: Mapping[str, Any]) -> Frame:
    """`event: <type>` and one `data:` line of JSON (orjson never writes a newline inside it)."""
    return Frame(event_type, b"event: " + event_type.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")


def error_frame(error: Mapping[str, Any]) -> Frame:
    """A failure mid-stream, as OpenAI sends it: a `data:` frame whose JSON holds an `error` object (the SDKs raise
    `APIError` on it)."""
    return frame("error", {"type": "error", "error": dict(error)})


def malformed_frame(event_type: str) -> Frame:
    """An event whose JSON is cut short: what a broken proxy passes on."""
    return Frame(event_type, b"event: " + event_type.encode() + b'\ndata: {"type": "' + event_type.encode()
                 + b'", "b64_json": "iVBORw0K\n\n')


def _picture(image: bytes) -> Image.Image:
    """The final image decoded once for its partial images: RGBA when it has transparency (kept in them)."""
    with Image.open(io.BytesIO(image)) as opened:
        return opened.convert("RGBA" if opened.has_transparency_data else "RGB")


def coarser_step(picture: Image.Image, fmt: str, steps: int, index: int) -> bytes:
    """Partial image `index` (0-based) of `steps`, at the picture's own size: shrunk 4^(steps-index) times (at least
    to 1 pixel), blown back up with nearest-neighbour, encoded as `fmt`. Public Pillow API only; a slow path (~ms
    each at 1024x1024): call it in a worker thread."""
    width, height = picture.size
    factor = 4 ** (steps - index)
    small = picture.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)
    if fmt == "png" and small.mode == "RGB":  # a palette of the small image's colours: the blown-up PNG then costs
        small = small.quantize(256)  # ~1/10 of an RGB one (not for RGBA: the quantizer blurs alpha 0 into 1)
    blocky = small.resize((width, height), Image.Resampling.NEAREST)
    if fmt == "jpeg" and blocky.mode != "RGB":
        blocky = blocky.convert("RGB")
    buffer = io.BytesIO()
    blocky.save(buffer, format=fmt.upper(), **_PARTIAL_OPTIONS.get(fmt, {}))
    return buffer.getvalue()


def coarser(image: bytes, fmt: str, steps: int) -> list[bytes]:
    """`steps` versions of `image` at its own size, coarsest first (see `coarser_step`)."""
    if steps <= 0:
        return []
    picture = _picture(image)
    return [coarser_step(picture, fmt, steps, index) for index in range(steps)]


class StreamPlan:
    """The events of one streamed answer, each encoded only when it is due: per image, `partials` partial images
    (`partial_image_index` from 0), then its completed event with `usage`.

    The event types are known up front (`types`: faults are placed among them before any image is drawn); a frame
    is encoded when `frame(index)` asks for it, so the first partial image goes out while the later ones are still
    to be made, and a client that leaves stops the rest being made. `render(i)` draws image `i` (its bytes in
    `fmt`). Frames are asked for in order, one at a time (each in a worker thread: CPU-bound); the image being
    streamed and its decoded picture are kept between its frames, nothing else.
    """

    def __init__(self, kind: str, images: int, partials: int, render: Callable[[int], bytes], *, fmt: str,
                 settings: Mapping[str, Any], created: int, usage: Mapping[str, Any]) -> None:
        self.partial_type, self.completed_type = f"{kind}.{PARTIAL_EVENT}", f"{kind}.{COMPLETED_EVENT}"
        self.partials = max(0, min(partials, MAX_PARTIALS))
        self.types: tuple[str, ...] = ((self.partial_type,) * self.partials + (self.completed_type,)) * images
        self.render, self.fmt = render, fmt
        self.head = {"created_at": created, **settings}
        self.usage = dict(usage)
        self._image: tuple[int, bytes, Image.Image | None] | None = None

    def __len__(self) -> int:
        return len(self.types)

    def _final(self, number: int, decoded: bool) -> tuple[bytes, Image.Image | None]:
        if self._image is None or self._image[0] != number:
            self._image = (number, self.render(number), None)
        _, image, picture = self._image
        if decoded and picture is None:
            picture = _picture(image)
            self._image = (number, image, picture)
        return image, picture

    def frame(self, index: int) -> Frame:
        """Event `index` (0-based), encoded now."""
        number, step = divmod(index, self.partials + 1)
        if step < self.partials:
            _, picture = self._final(number, decoded=True)
            assert picture is not None
            partial = coarser_step(picture, self.fmt, self.partials, step)
            return frame(self.partial_type, {"type": self.partial_type, "b64_json": _b64(partial), **self.head,
                                             "partial_image_index": step})
        image, _ = self._final(number, decoded=False)
        self._image = None  # the next frame is the next image's
        return frame(self.completed_type, {"type": self.completed_type, "b64_json": _b64(image), **self.head,
                                           "usage": self.usage})

    def frames(self) -> Iterator[Frame]:
        """Every frame in order, each encoded as it is taken (in-process use and tests)."""
        return (self.frame(index) for index in range(len(self.types)))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
