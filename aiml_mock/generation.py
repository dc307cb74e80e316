"""Build a success body for a validated request: one `data` item per image, `url` or `b64_json`.

Pure given its inputs (the clock is passed in). A `url` answer renders nothing: the image is rendered when
the URL is fetched, from the spec its name carries. `b64_json` renders through the shared, bounded cache,
so `url` and `b64_json` of the same image share one render.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
from typing import Any

from PIL import Image

from aiml_mock.behaviours import caption_label, revised_prompt
from aiml_mock.images import ImageCache, ImageSpec
from aiml_mock.urls import UrlSigner, file_names
from aiml_mock.validation import ImageRequest

DRAWN_PROMPT_CHARS = 300
NATIVE_FORMATS = ("png", "jpeg", "webp")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
_DIGEST = hashlib.blake2b(digest_size=8)


def prompt_digest(request: ImageRequest, seed: int) -> bytes:
    """What picks an image's colour: the whole prompt, the model and the seed."""
    hasher = _DIGEST.copy()  # a copy of an empty hash: a third of the cost of a new one, the same digest
    hasher.update(f"{seed}\x00{request.model}\x00{request.prompt}".encode(errors="replace"))
    return hasher.digest()


def image_specs(request: ImageRequest, seed: int) -> list[ImageSpec]:
    """The images a request asks for (what a `b64_json` answer renders and a `url` answer's names carry)."""
    digest, label, text = prompt_digest(request, seed), caption_label(request), request.prompt[:DRAWN_PROMPT_CHARS]
    return [
        ImageSpec(text, digest, request.model, request.width, request.height, label, request.fmt,  # type: ignore[arg-type]
                  index)
        for index in range(request.count)
    ]


def image_names(request: ImageRequest, seed: int) -> list[str]:
    """The file names of `image_specs(request, seed)`, made without the specs: a `url` answer renders nothing."""
    return file_names(request.prompt[:DRAWN_PROMPT_CHARS], prompt_digest(request, seed), request.model,
                      request.width, request.height, caption_label(request), request.fmt, range(request.count))


@functools.lru_cache(maxsize=16)
def _convert(png: bytes, fmt: str) -> bytes:
    """Formats the fast renderer does not write (TIFF for the upscalers) are converted by Pillow."""
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).save(out, format=fmt.upper())
    return out.getvalue()


def image_bytes(spec: ImageSpec, cache: ImageCache) -> bytes:
    if spec.fmt in NATIVE_FORMATS:
        return cache.get(spec)
    return _convert(cache.get(_as_png(spec)), spec.fmt)


def _as_png(spec: ImageSpec) -> ImageSpec:
    return ImageSpec(spec.text, spec.prompt_digest, spec.model, spec.width, spec.height, spec.label, "png", spec.index)


def image_b64(spec: ImageSpec, cache: ImageCache) -> str:
    if spec.fmt in NATIVE_FORMATS:
        return cache.get_b64(spec)
    return base64.b64encode(image_bytes(spec, cache)).decode("ascii")


def success_body(
    request: ImageRequest, *, seed: int, now: float, cache: ImageCache, signer: UrlSigner, base_url: str
) -> dict[str, Any]:
    """`{"created": ..., "data": [...]}` as the real API answers it."""
    revised = revised_prompt(request, seed)
    data: list[dict[str, str]] = []
    if request.response_format == "b64_json":
        for spec in image_specs(request, seed):
            encoded = image_b64(spec, cache)
            data.append({"b64_json": encoded} if revised is None else {"revised_prompt": revised, "b64_json": encoded})
    else:
        prefix = f"{base_url}/images/"
        for name in image_names(request, seed):  # loops: 3.11 makes a function object per comprehension run
            url = f"{prefix}{name}?{signer.query(name, now)}"
            data.append({"url": url} if revised is None else {"revised_prompt": revised, "url": url})
    return {"created": int(now), "data": data}
