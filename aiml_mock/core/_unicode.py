"""Text that is valid Unicode: lone surrogates (`"\\ud800"`, valid in JSON, not encodable as UTF-8) found or replaced.

JSON's `\\uXXXX` escapes can spell half of a surrogate pair on its own. Python's `json` reads it into a `str` that
no UTF-8 encoder (orjson included) can write back, so such a string that reached an answer or the journal made the
mock answer 500. Text is checked where it enters (`validation.parse_json`); what is shown is made writable here.
"""

from __future__ import annotations

import re
from typing import Any

_LONE = re.compile("[\ud800-\udfff]")  # in a Python str, any surrogate code point is a lone one
DEPTH = 128


def has_surrogates(text: str) -> bool:
    """Whether `text` holds a lone surrogate (a valid pair is one code point in a Python str, never two)."""
    return not text.isascii() and _LONE.search(text) is not None


def replace_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, the Unicode replacement character."""
    return _LONE.sub("\ufffd", text) if has_surrogates(text) else text


def surrogate_path(value: Any) -> str | None:
    """The JSON path of the first string (or object key) with a lone surrogate in a parsed value, else None."""
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if has_surrogates(item):
                return path
        elif isinstance(item, dict):
            for key, member in reversed(item.items()):
                where = f"{path}.{replace_surrogates(key)}"
                if has_surrogates(key):
                    return where
                stack.append((member, where))
        elif isinstance(item, list):
            stack.extend((member, f"{path}[{index}]") for index, member in reversed(list(enumerate(item))))
    return None


def writable(value: Any, depth: int = 0) -> Any:
    """A JSON-like value any encoder can write: lone surrogates replaced in every string and key, and what is
    nested deeper than `DEPTH` levels (orjson writes at most 255) shown as a note."""
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, dict | list | tuple) and depth >= DEPTH:
        return "...(nested deeper)"
    if isinstance(value, dict):
        return {writable(key, depth + 1) if isinstance(key, str) else key: writable(item, depth + 1)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [writable(item, depth + 1) for item in value]
    return value
