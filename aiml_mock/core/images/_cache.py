"""An LRU cache of rendered images and their base64 text, bounded by total bytes."""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from typing import Final

from aiml_mock.core.images import _render  # the module, so patching its render_image is seen
from aiml_mock.core.images._spec import ImageSpec

_ENTRY_OVERHEAD: Final = 256  # rough bytes per entry for the key, the ordered-dict node and object headers


class ImageCache:
    """LRU cache of rendered images and their base64 text, bounded by total bytes.

    Thread-safe: a lock guards the bookkeeping only, so renders run outside it (two threads missing the same
    spec may both render it; the result is identical). An entry costs its payload length plus the length of
    the spec's strings plus a fixed overhead; payloads larger than the whole budget are returned uncached.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[ImageSpec | tuple[ImageSpec], tuple[bytes | str, int]] = OrderedDict()
        self._size = 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def size_bytes(self) -> int:
        """Accounted bytes currently held (always <= ``max_bytes``)."""
        return self._size

    def __len__(self) -> int:
        """Number of entries (image bytes and base64 texts count separately)."""
        return len(self._entries)

    def __contains__(self, spec: object) -> bool:
        """Whether the image bytes of ``spec`` are cached."""
        with self._lock:
            return spec in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def _lookup(self, key: ImageSpec | tuple[ImageSpec]) -> bytes | str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def _store(self, key: ImageSpec | tuple[ImageSpec], spec: ImageSpec, value: bytes | str) -> None:
        cost = len(value) + len(spec.text) + len(spec.model) + len(spec.label) + _ENTRY_OVERHEAD
        if cost > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._entries[key] = (value, cost)
            self._size += cost
            while self._size > self._max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= evicted

    def get(self, spec: ImageSpec) -> bytes:
        """The image bytes for ``spec``: rendered on a miss, from memory on a hit."""
        cached = self._lookup(spec)
        if isinstance(cached, bytes):
            return cached
        data = _render.render_image(spec)
        self._store(spec, spec, data)
        return data

    def get_b64(self, spec: ImageSpec) -> str:
        """Base64 (ASCII) of ``get(spec)``, cached too so repeated ``b64_json`` answers cost a lookup."""
        key = (spec,)
        cached = self._lookup(key)
        if isinstance(cached, str):
            return cached
        text = base64.b64encode(self.get(spec)).decode("ascii")
        self._store(key, spec, text)
        return text
