"""Signed, expiring image URLs, like the real API's blob URLs (valid 60 minutes).

The file name carries the image's description (packed and base64url-encoded), so any worker process
can render it and no store is needed; the signature (a keyed BLAKE2b MAC over the name and the expiry)
makes a URL impossible to guess or alter: a tampered, forged or expired URL is refused, never another image.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import struct

from aiml_mock.core.errors import ApiError
from aiml_mock.core.images import ImageSpec

EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "tiff": "tif"}
FORMATS = {ext: fmt for fmt, ext in EXTENSIONS.items()}
MAX_NAME = 8192
_KEY_BYTES = 64  # BLAKE2b's longest key; longer secrets are hashed to it


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    """Unpadded base64url (`base64.urlsafe_b64encode` costs twice as much on this hot path)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEAD = struct.Struct(">BHHHB8sHHH")  # version, width, height, index, format, digest, 3 string lengths
_VERSION = 1
_FORMAT_CODES = {fmt: code for code, fmt in enumerate(EXTENSIONS)}
_CODE_FORMATS = dict(enumerate(EXTENSIONS))
_TRANSPARENT = 0x80  # a flag on the format code: the image's background is transparent (gpt-image's)


def file_name(spec: ImageSpec) -> str:
    """`img-<token>.<ext>`: the token is the spec, packed; it is not a secret, the signature is."""
    return file_names(spec.text, spec.prompt_digest, spec.model, spec.width, spec.height, spec.label, spec.fmt,
                      range(spec.index, spec.index + 1), transparent=spec.transparent)[0]


def file_names(text: str, digest: bytes, model: str, width: int, height: int, label: str, fmt: str,
               indices: range, *, transparent: bool = False) -> list[str]:
    """The file names of a request's images, one per index, without making an `ImageSpec` for each.

    A fixed binary header and length-prefixed UTF-8 strings, encoded once for the whole batch: a couple of
    microseconds, where JSON plus zlib cost twenty on a path that runs for every `url` answer.
    """
    model_bytes, label_bytes = _encoded(model), _encoded(label)
    text_bytes = text.encode("utf-8", "surrogatepass")
    tail = model_bytes + label_bytes + text_bytes
    code, ext, sizes = _FORMAT_CODES[fmt], EXTENSIONS[fmt], (len(model_bytes), len(label_bytes), len(text_bytes))
    if transparent:
        code |= _TRANSPARENT
    names = []
    for index in indices:  # a loop: Python 3.11 makes a function object each time a comprehension runs
        names.append(f"img-{_b64(_HEAD.pack(_VERSION, width, height, index, code, digest, *sizes) + tail)}.{ext}")
    return names


@functools.lru_cache(maxsize=256)
def _encoded(value: str) -> bytes:
    """Model ids and labels: a few distinct values, encoded once."""
    return value.encode("utf-8", "surrogatepass")


def spec_from_name(name: str) -> ImageSpec:
    """The spec a file name describes, or `ApiError(404)` for anything that is not one of ours."""
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in FORMATS or not stem.startswith("img-") or len(name) > MAX_NAME:
        raise ApiError(404, "Image not found", openai_message="Image not found.")
    try:
        raw = _unb64(stem[4:])
        version, width, height, index, code, digest, *lengths = _HEAD.unpack_from(raw)
        if (version != _VERSION or _CODE_FORMATS.get(code & ~_TRANSPARENT) != FORMATS[ext]
                or _HEAD.size + sum(lengths) != len(raw)):
            raise ValueError("not one of our names")
        texts, offset = [], _HEAD.size
        for length in lengths:
            texts.append(raw[offset : offset + length].decode("utf-8", "surrogatepass"))
            offset += length
        model, label, text = texts
        return ImageSpec(text=text, prompt_digest=digest, model=model, width=width, height=height, label=label,
                         fmt=FORMATS[ext], index=index, transparent=bool(code & _TRANSPARENT))  # type: ignore[arg-type]
    except (ValueError, TypeError, struct.error, binascii.Error):
        raise ApiError(404, "Image not found", openai_message="Image not found.") from None


class UrlSigner:
    """Signs image file names with an expiry and checks them when the image is fetched.

    The signature is keyed BLAKE2b (a MAC by design: no HMAC construction needed) over `name\nexpires`, 18
    bytes. The keyed state is prepared once and copied per URL: a third of what HMAC-SHA256 cost per answer.
    """

    def __init__(self, secret: bytes, ttl: float) -> None:
        key = secret if len(secret) <= _KEY_BYTES else hashlib.blake2b(secret, digest_size=_KEY_BYTES).digest()
        self._keyed = hashlib.blake2b(key=key, digest_size=18)
        self.ttl = ttl

    def _signature(self, name: str, expires: int) -> str:
        mac = self._keyed.copy()
        mac.update(f"{name}\n{expires}".encode())
        return _b64(mac.digest())

    def query(self, name: str, now: float) -> str:
        expires = int(now + self.ttl)
        return f"se={expires}&sp=r&sig={self._signature(name, expires)}"

    def verify(self, name: str, expires: str | None, signature: str | None, now: float) -> None:
        """Raise `ApiError(403)` unless the signature matches and the URL has not expired."""
        if (not expires or not signature or not (expires.isascii() and expires.isdigit()) or len(expires) > 12
                or not signature.isascii()):  # `int('²')` raises, and so does comparing non-ASCII text
            raise ApiError(403, "Server failed to authenticate the request: the URL is not signed",
                           openai_message="This image URL is not signed.")
        if not hmac.compare_digest(self._signature(name, int(expires)), signature):
            raise ApiError(403, "Server failed to authenticate the request: the signature does not match",
                           openai_message="This image URL's signature does not match.")
        if int(expires) < now:
            raise ApiError(403, "This image URL has expired; image URLs are valid for a limited time",
                           openai_message="This image URL has expired.")
