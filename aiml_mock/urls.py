"""Signed, expiring image URLs, like the real API's blob URLs (valid 60 minutes).

The file name carries the image's description (compressed and base64url-encoded), so any worker process
can render it and no store is needed; the signature (HMAC over the name and the expiry) makes a URL
impossible to guess or alter: a tampered, forged or expired URL is refused, never another image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from typing import Any

from aiml_mock.errors import ApiError
from aiml_mock.images import ImageSpec

EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "tiff": "tif"}
FORMATS = {ext: fmt for fmt, ext in EXTENSIONS.items()}
MAX_NAME = 8192


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def file_name(spec: ImageSpec) -> str:
    """`img-<token>.<ext>`: the token is the spec, compressed; it is not a secret, the signature is."""
    fields: list[Any] = [spec.text, spec.prompt_digest.hex(), spec.model, spec.width, spec.height, spec.label,
                         spec.index]
    token = _b64(zlib.compress(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode(), 6))
    return f"img-{token}.{EXTENSIONS[spec.fmt]}"


def spec_from_name(name: str) -> ImageSpec:
    """The spec a file name describes, or `ApiError(404)` for anything that is not one of ours."""
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in FORMATS or not stem.startswith("img-") or len(name) > MAX_NAME:
        raise ApiError(404, "Image not found", openai_message="Image not found.")
    try:
        raw = zlib.decompressobj().decompress(_unb64(stem[4:]), 64 * 1024)
        text, digest, model, width, height, label, index = json.loads(raw)
        return ImageSpec(
            text=str(text), prompt_digest=bytes.fromhex(digest), model=str(model), width=int(width),
            height=int(height), label=str(label), fmt=FORMATS[ext], index=int(index),  # type: ignore[arg-type]
        )
    except (ValueError, TypeError, zlib.error, binascii.Error):
        raise ApiError(404, "Image not found", openai_message="Image not found.") from None


class UrlSigner:
    """Signs image file names with an expiry and checks them when the image is fetched."""

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl

    def _signature(self, name: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{name}\n{expires}".encode(), hashlib.sha256).digest()
        return _b64(digest[:24])

    def query(self, name: str, now: float) -> str:
        expires = int(now + self.ttl)
        return f"se={expires}&sp=r&sig={self._signature(name, expires)}"

    def verify(self, name: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise `ApiError(403)` unless the signature matches and the URL has not expired."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            raise ApiError(403, "Server failed to authenticate the request: the URL is not signed",
                           openai_message="This image URL is not signed.")
        if not hmac.compare_digest(self._signature(name, int(expires)), signature):
            raise ApiError(403, "Server failed to authenticate the request: the signature does not match",
                           openai_message="This image URL's signature does not match.")
        if int(expires) < now:
            raise ApiError(403, "This image URL has expired; image URLs are valid for a limited time",
                           openai_message="This image URL has expired.")
