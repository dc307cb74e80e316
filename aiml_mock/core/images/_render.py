"""Which renderer serves this process, chosen once at import, and :func:`render_image`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Final

from aiml_mock.core.images import _plain
from aiml_mock.core.images._spec import CONTENT_TYPES, ImageSpec

ENV: Final = "AIML_MOCK_RENDERER"
CHOICES: Final = ("auto", "fast", "plain")
_log = logging.getLogger("aiml_mock.core.images")


def _fast_renderer() -> Callable[[ImageSpec], bytes] | str:
    """The fast renderer, or why it cannot serve here (its private Pillow calls are missing or draw otherwise)."""
    try:
        from aiml_mock.core.images import _fast

        _fast.check()
    except Exception as error:  # any failure of Pillow's private API (missing name, new signature...) is one
        return f"{type(error).__name__}: {error}"
    return _fast.render


def _choose(wanted: str) -> tuple[str, Callable[[ImageSpec], bytes]]:
    """(name, render function) for ``AIML_MOCK_RENDERER``'s value."""
    choice = wanted.strip().lower() or "auto"
    if choice not in CHOICES:
        raise ValueError(f"{ENV} must be one of {', '.join(CHOICES)}; got {wanted!r}")
    if choice == "plain":
        return "plain", _plain.render
    fast = _fast_renderer()
    if not isinstance(fast, str):
        return "fast", fast
    if choice == "fast":
        raise ImportError(f"{ENV}=fast, but the fast renderer cannot serve with this Pillow: {fast}")
    _log.warning("aiml-mock renders images with plain Pillow (slower): the fast renderer cannot serve with this "
                 "Pillow (%s). Set %s=plain to say so and skip this check.", fast, ENV)
    return "plain", _plain.render


RENDERER, _render = _choose(os.environ.get(ENV, ""))


def render_image(spec: ImageSpec) -> bytes:
    """Render ``spec`` to the bytes of an image file; pure, so the same spec always gives the same bytes.

    Medians on a 2-core VM with a 300-character prompt (bench/bench_render.py, which interleaves formats, so a
    PNG follows a JPEG's and a WebP's cache use; this VM's speed drifts ~1.7x): PNG 0.4-0.9 ms at every size
    up to 8192x8192, 4096x4096 the slowest (after the biggest JPEG and WebP), ~1.2 ms while other processes
    load the VM; WebP 0.6-1.2 ms up to 1792x1024, ~2.5 ms at 2048x2048, ~9 ms at 4096x4096; JPEG 1.1-3 ms up
    to 1792x1024, ~6-7 ms at 2048x2048, ~15-18 ms at 4096x4096. No full-size image is ever built: memory is
    O(width x text band) (the PNG of scaled text never draws it at full size), under 15 MB at 8192x8192. The
    first render at a new size in a process also builds that size's font atlases (~7 ms each, then cached),
    its flat rows' deflate data (~2-9 ms per width) and, for scaled text, its deflate codes (~1-2 ms a width).
    CPU-bound and synchronous: from asyncio, call it (or :meth:`ImageCache.get`) in a thread for big sizes.
    Raises ``ValueError`` for a format other than png, jpeg, webp.
    """
    if spec.fmt not in CONTENT_TYPES:
        raise ValueError(f"cannot render format {spec.fmt!r}; supported: {', '.join(CONTENT_TYPES)}")
    return _render(spec)
