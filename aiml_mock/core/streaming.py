"""Streamed image answers (`stream: true` on the GPT image models): the server-sent events, built. Pure.

OpenAI streams `partial_images` (0-3) `<kind>.partial_image` events, then one `<kind>.completed` event with
`usage`, per image (`kind`: `image_generation` or `image_edit`). The partial images here are real images of the
final size getting sharper: the final picture shrunk by 4^k and blown back up (blocky, then less so), encoded in
the requested format. The event shapes are the contract's (`contracts/openai.yaml`: `ImageStreamEvent.*`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from PIL import Image

MAX_PARTIALS = 3
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


def coarser(image: bytes, fmt: str, steps: int) -> list[bytes]:
    """`steps` versions of `image` at its own size, coarsest first: shrunk 4^(steps-k) times (at least to 1 pixel),
    blown back up with nearest-neighbour, and encoded as `fmt`. Public Pillow API only; a slow path (~ms each)."""
    if steps <= 0:
        return []
    with Image.open(io.BytesIO(image)) as opened:
        picture = opened.convert("RGBA" if fmt in ("png", "webp") and "A" in opened.getbands() else "RGB")
    width, height = picture.size
    out: list[bytes] = []
    for index in range(steps):
        factor = 4 ** (steps - index)
        small = picture.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)
        blocky = small.resize((width, height), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        blocky.save(buffer, format=fmt.upper(), **({"quality": 80} if fmt in ("jpeg", "webp") else {}))
        out.append(buffer.getvalue())
    return out


def stream_frames(kind: str, images: Sequence[bytes], partials: Sequence[Sequence[bytes]], *,
                  settings: Mapping[str, Any], created: int, usage: Mapping[str, Any]) -> list[Frame]:
    """The events of one streamed answer: per image, its partial images (0-based `partial_image_index`) then its
    completed event. `settings`: the resolved `size`, `quality`, `background`, `output_format`."""
    frames: list[Frame] = []
    partial_type, completed_type = f"{kind}.{PARTIAL_EVENT}", f"{kind}.{COMPLETED_EVENT}"
    for image, its_partials in zip(images, partials, strict=True):
        for index, partial in enumerate(its_partials):
            frames.append(frame(partial_type, {
                "type": partial_type, "b64_json": base64.b64encode(partial).decode("ascii"), "created_at": created,
                **settings, "partial_image_index": index,
            }))
        frames.append(frame(completed_type, {
            "type": completed_type, "b64_json": base64.b64encode(image).decode("ascii"), "created_at": created,
            **settings, "usage": dict(usage),
        }))
    return frames
