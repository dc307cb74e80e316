"""The request journal: every exchange the mock answered, newest first, in memory bounded by count and bytes.

Recording keeps an exchange as one bytes blob (its numbers packed, then the request line, the scrubbed
headers, the request body and the response as received and sent) in a short tuple: a retained entry is
a few objects, not dozens, which is most of what keeping 1,000 of them costs. `Entry` objects, parsed
bodies and responses and decoded headers are built when the journal is read. What could
grow without bound is cut on the way in: bodies over `BODY_CAP` bytes are shortened, `b64_json` payloads
are elided, and the oldest entries leave once `capacity` entries or `max_bytes` (estimated) are held.
API keys are never kept in full (`auth.redact`), not even in the raw headers.

`ImageRegistry` is the journal of images: each one generated, and whether the client downloaded it.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import struct
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_to_bytes

import orjson

from aiml_mock.core.auth import redact
from aiml_mock.core.contract import Violation
from aiml_mock.core.errors import ApiError
from aiml_mock.core.pricing import Cost
from aiml_mock.core.validation import ImageRequest, parse_json

BODY_CAP = 16 * 1024  # bytes of a request or response body kept in full
HEADER_CAP = 4 * 1024  # bytes of one header value kept in full
HEADERS_CAP = 16 * 1024  # bytes of request headers kept in all (the rest is noted, not kept)
QUERY_CAP = 4 * 1024  # bytes of a query string kept in full
TEXT_CAP = 2 * 1024  # characters of a path, method or key kept in full
MODEL_CAP = 256  # characters of a model id kept in full (the catalogue's longest is under 80)
DEFAULT_CAPACITY = 1000
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
ENTRY_OVERHEAD = 256  # bytes an entry costs besides the bytes it keeps (its tuple, object headers), for the bound
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
                               "set-cookie"})
_SENSITIVE_RAW = frozenset(name.encode() for name in SENSITIVE_HEADERS)
_STRING_CAP = 1024
_ITEMS_CAP = 50


def redact_header(name: str, value: str) -> str:
    """A header value as the journal shows it: credentials cut to a prefix (`Bearer sk-liv...(24 chars)`)."""
    if name not in SENSITIVE_HEADERS:
        return value
    scheme, space, token = value.partition(" ")
    if space and scheme.lower() in ("bearer", "basic", "token"):
        return f"{scheme} {_redact_once(token.strip())}"
    return _redact_once(value)


def scrub_headers(raw: Iterable[tuple[bytes, bytes]], authorization: bytes | None = None) -> bytes:
    """ASGI's raw pairs as one `name:value` line each, credentials redacted (`authorization`: that header's
    redacted value, when the caller has it). One bytes object: nothing for the garbage collector to track,
    and the secret is not kept, even undecoded. A name or value over `HEADER_CAP` bytes is kept shortened, its
    length noted (`...(8000000 bytes)`); past `HEADERS_CAP` bytes in all, the rest is one line counting them.
    On every answer's path: one line made per header, each length test only when the pair could be over it."""
    lines: list[bytes] = []
    kept = 0
    pairs = raw if isinstance(raw, list) else list(raw)
    for name, value in pairs:
        if name in _SENSITIVE_RAW:
            redacted = authorization if authorization is not None and name == b"authorization" else None
            value = redacted or _redact_raw(name, value)
        size = len(name) + len(value)
        if size > HEADER_CAP and (len(value) > HEADER_CAP or len(name) > HEADER_CAP):
            name, value = _cap_bytes(name, 256), _cap_bytes(value, HEADER_CAP)
            size = len(name) + len(value)
        kept += size + 2
        if kept > HEADERS_CAP:
            rest = pairs[len(lines):]
            size = sum(len(name) + len(value) for name, value in rest)
            lines.append(b"x-aiml-mock-omitted:%d more headers, %d bytes, not kept" % (len(rest), size))
            break
        lines.append(name + b":" + value)
    return b"\n".join(lines)


def _cap_bytes(value: bytes, cap: int) -> bytes:
    return value if len(value) <= cap else value[:cap] + b"...(%d bytes)" % len(value)


def cap_text(value: str, cap: int = TEXT_CAP) -> str:
    """A string as the journal keeps it: as is up to `cap` characters, else shortened with its length noted."""
    return value if len(value) <= cap else f"{value[:cap]}...({len(value)} chars)"


SENSITIVE_PARAMS = frozenset({"key", "api_key", "api-key", "apikey", "access_token", "token", "auth",
                              "authorization", "password", "secret", "client_secret"})
# What every sensitive name contains, in any case: one search decides whether a query needs the careful look.
# A regex, not `hint in query`: on Python 3.11 `bytes in bytes` first tries the needle as an integer and
# builds (then drops) a TypeError, ~2,400 instructions a test.
_SENSITIVE_HINTS = re.compile(rb"key|token|auth|pass|secret", re.IGNORECASE)


def scrub_query(query: bytes) -> bytes:
    """A query string as the journal keeps it: credentials (`?api_key=...`, `?token=...`) redacted like the
    Authorization header, the whole cut to `QUERY_CAP` bytes with its length noted."""
    if not query:  # nearly every API request: nothing to look at
        return query
    if _SENSITIVE_HINTS.search(query) is not None:
        pairs = []
        for pair in query.split(b"&"):
            name, equals, value = pair.partition(b"=")
            if equals and value and unquote_to_bytes(name).decode("latin-1").lower() in SENSITIVE_PARAMS:
                secret = unquote_to_bytes(value).decode("latin-1")
                pair = name + b"=" + quote(_redact_once(secret), safe="*.()").encode("latin-1")
            pairs.append(pair)
        query = b"&".join(pairs)
    return _cap_bytes(query, QUERY_CAP)


def _redact_raw(name: bytes, value: bytes) -> bytes:
    return redact_header(name.decode("latin-1").lower(), value.decode("latin-1")).encode("latin-1")


def _redact_once(secret: str) -> str:
    if secret.endswith(" chars)") and "...(" in secret:  # already redacted: redacting is idempotent
        return secret
    return redact(secret)


class RedactedHeaders(Mapping[str, str]):
    """Request headers with lower-case names and credentials redacted, decoded on first use.

    Credentials are redacted when the mapping is made: the secret is never kept, only the decoding waits.
    """

    __slots__ = ("_raw", "_view")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] | Mapping[str, str] | bytes = ()) -> None:
        """`raw`: ASGI's (lower-case name, value) pairs, a mapping, or `scrub_headers()`'s bytes."""
        if not isinstance(raw, bytes | Mapping):
            raw = scrub_headers(raw)
        self._raw: Mapping[str, str] | bytes = raw
        self._view: dict[str, str] | None = None

    def _decoded(self) -> dict[str, str]:
        if self._view is None:
            view: dict[str, str] = {}
            if isinstance(self._raw, bytes):
                lines = self._raw.decode("latin-1").split("\n") if self._raw else []
                pairs: Iterable[tuple[str, str]] = (line.partition(":")[::2] for line in lines)
            else:
                pairs = self._raw.items()
            for name, value in pairs:
                name = name.lower()
                value = redact_header(name, value)
                view[name] = f"{view[name]}, {value}" if name in view else value
            self._view = view
            self._raw = b""
        return self._view

    def __getitem__(self, name: str) -> str:
        return self._decoded()[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return repr(self._decoded())


@dataclass(frozen=True, slots=True)
class Entry:
    """One exchange: the request as received (credentials redacted), the answer, and the client's verdict.

    `violations` is what the request broke in the contract (validation errors, unknown fields, missing or
    malformed auth, unknown routes): `()` when the client sent what the contract allows. `status` is 0
    when the mock dropped the connection without answering, 499 when the client left before the answer.
    """

    id: int
    time: float
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    json: Any
    status: int
    response: Any
    violations: tuple[Violation, ...]
    model: str | None
    key: str | None
    duration_ms: float
    fault: str | None = None
    cost: Cost | None = None  # what the real API would have billed for it (answered generations only)

    @property
    def valid(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "time": self.time, "method": self.method, "path": self.path, "query": self.query,
            "headers": dict(self.headers), "json": self.json, "status": self.status, "response": self.response,
            "violations": [violation.to_dict() for violation in self.violations], "valid": self.valid,
            "model": self.model, "key": self.key, "duration_ms": round(self.duration_ms, 3), "fault": self.fault,
            "cost": None if self.cost is None else {"credits": self.cost.credits, "usd": round(self.cost.usd, 7),
                                                    "images": self.cost.images},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entry:
        """An entry from `to_dict()` output, e.g. read from a remote mock's `GET /__mock/requests`."""
        violations = tuple(
            Violation(item["path"], item["rule"], item.get("value"), item.get("message", ""), item.get("expected"))
            for item in data.get("violations") or ()
        )
        return cls(
            id=int(data["id"]), time=float(data["time"]), method=data["method"], path=data["path"],
            query=data.get("query", ""), headers=RedactedHeaders(dict(data.get("headers") or {})),
            json=data.get("json"), status=int(data["status"]), response=data.get("response"),
            violations=violations, model=data.get("model"), key=data.get("key"),
            duration_ms=float(data.get("duration_ms", 0.0)), fault=data.get("fault"), cost=_cost_of(data.get("cost")),
        )


def _cost_of(data: Any) -> Cost | None:
    if not isinstance(data, Mapping):
        return None
    return Cost(int(data.get("credits", 0)), float(data.get("usd", 0.0)), int(data.get("images", 0)))


# What the recording middleware stores (`Journal.record_raw`): `(blob, size, violations, model, fault, json,
# response, cost)`. `blob` is one bytes object: `RAW_HEAD` (id, time, duration_ms, status, flags, the size of a
# response over the cap, the method's and the path's lengths in characters, then the byte lengths of the
# parts) followed by the parts: the query string, `scrub_headers()` bytes, the request body as received
# (when `RAW_JSON`: parsed when read, with the app's own `parse_json`), the JSON response as sent (when
# `RAW_RESPONSE`: parsed when read), and last the method, the path and the redacted key as one UTF-8 text
# (lone surrogates passed through; no key when `RAW_NO_KEY`). `json` and `response` are what is kept as
# objects instead (a body over `BODY_CAP` shortened, an elided `b64_json` payload), else None. In the
# common case `violations` is the shared `()`, `model` the contract's string and the rest None: a retained
# entry is the tuple, the blob and the size, where the old form held dozens of small objects (the request
# line, the parsed body and its strings, numbers), each freed cold `capacity` requests later. `size` is at
# index 1, as in the `(Entry, size)` pairs `record` keeps; the Entry is built when it is read.
RawEntry = tuple[bytes, int, tuple[Violation, ...], str | None, str | None, Any, Any, Cost | None]
RAW_HEAD = struct.Struct("<qddqBqQQQQQQ")
RAW_JSON, RAW_RESPONSE, RAW_RESPONSE_OVER, RAW_NO_KEY = 1, 2, 4, 8


def _entry_of(item: tuple[Entry, int] | RawEntry) -> Entry:
    if isinstance(item[0], Entry):
        return item[0]
    blob, _, violations, model, fault, json_side, response_side, cost = item
    entry_id, started, duration, status, flags, over, method_chars, path_chars, *lengths = RAW_HEAD.unpack_from(blob)
    parts: list[bytes] = []
    offset = RAW_HEAD.size
    for length in lengths:
        parts.append(blob[offset:offset + length])
        offset += length
    query, headers, body, response = parts
    text = blob[offset:].decode("utf-8", "surrogatepass")
    path_end = method_chars + path_chars
    json = _parse_kept(body) if flags & RAW_JSON else json_side
    if flags & RAW_RESPONSE:
        response_side = parse_captured(response)
    elif flags & RAW_RESPONSE_OVER:
        response_side = _over_the_cap(over)
    return Entry(entry_id, started, text[:method_chars], text[method_chars:path_end], query.decode("latin-1"),
                 RedactedHeaders(headers), json, status, response_side, violations, model,
                 None if flags & RAW_NO_KEY else text[path_end:], duration, fault, cost)


class Brief(NamedTuple):
    """What a filter reads of an entry (`Journal.select`), made without building it: no body, answer or
    header but the test's is decoded."""

    id: int
    method: str
    path: str
    status: int
    model: str | None
    key: str | None
    valid: bool
    test: str | None  # the `X-Mock-Test` header: the test that sent the request


_TEST_LINE = b"x-mock-test:"


def brief_of(item: tuple[Entry, int] | RawEntry) -> Brief:
    if isinstance(item[0], Entry):
        entry = item[0]
        return Brief(entry.id, entry.method, entry.path, entry.status, entry.model, entry.key, entry.valid,
                     entry.headers.get("x-mock-test"))
    blob, violations, model = item[0], item[2], item[3]
    entry_id, _, _, status, flags, _, method_chars, path_chars, query, headers, body, response = \
        RAW_HEAD.unpack_from(blob)
    start = RAW_HEAD.size + query
    test = None
    if _TEST_LINE in blob[start:start + headers]:
        found = [line[len(_TEST_LINE):].decode("latin-1") for line in blob[start:start + headers].split(b"\n")
                 if line.startswith(_TEST_LINE)]
        test = ", ".join(found) if found else None
    text = blob[start + headers + body + response:].decode("utf-8", "surrogatepass")
    path_end = method_chars + path_chars
    return Brief(entry_id, text[:method_chars], text[method_chars:path_end], status, model,
                 None if flags & RAW_NO_KEY else text[path_end:], not violations, test)


def _parse_kept(body: bytes) -> Any:
    """A kept request body, parsed as the app parsed it when it came in: the same value the app saw."""
    try:
        return parse_json(body)
    except ApiError:  # not expected (it parsed once): a journal read must not fail for it
        return body.decode("utf-8", "replace")


def filter_entries(entries: Iterable[Entry], *, path: str | None = None, status: int | None = None,
                   model: str | None = None) -> list[Entry]:
    """The entries with this path (`/images/*`: a prefix), status and model (None: any)."""
    prefix = path[:-1] if path is not None and path.endswith("*") else None
    return [
        entry for entry in entries
        if (path is None or (entry.path.startswith(prefix) if prefix is not None else entry.path == path))
        and (status is None or entry.status == status)
        and (model is None or entry.model == model)
    ]


def estimate_size(entry: Entry) -> int:
    """Bytes an entry holds, estimated by serialising it (for entries recorded without a size)."""
    return ENTRY_OVERHEAD + len(orjson.dumps({"json": entry.json, "response": entry.response}, default=str))


class Journal:
    """A ring buffer of entries, bounded by `capacity` entries and (estimated) `max_bytes`; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if capacity < 0 or max_bytes < 0:
            raise ValueError("the journal's capacity and byte bound cannot be negative")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._items: deque[tuple[Entry, int] | RawEntry] = deque()
        self._bytes = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition()  # only for `wait_for`: recording notifies it only when waited on
        self._waiters = 0

    def next_id(self) -> int:
        """A fresh entry id (ids only grow, also across `clear()`)."""
        return next(self._ids)

    def record(self, entry: Entry, size: int | None = None) -> None:
        """Keep an entry, evicting the oldest beyond the bounds. `size`: its bytes if the caller knows them."""
        self._keep((entry, estimate_size(entry) if size is None else size))

    def record_raw(self, entry: RawEntry) -> Awaitable[None] | None:
        """Keep an entry given as `RawEntry` (the recording middleware's cheap form; its size at index 1).
        A journal kept elsewhere (`--state`) returns the write to await before the answer goes out."""
        self._keep(entry)
        return None

    def record_with_images(self, entry: RawEntry, images: bytes) -> Awaitable[None] | None:
        """`record_raw` for a journal that also keeps the images (`--state`: `redis_state.SharedJournal`)."""
        return self.record_raw(entry)

    def _keep(self, item: tuple[Entry, int] | RawEntry) -> None:
        if not self.capacity:
            return
        with self._lock:
            self._items.append(item)
            self._bytes += item[1]
            while len(self._items) > self.capacity or (self._bytes > self.max_bytes and len(self._items) > 1):
                self._bytes -= self._items.popleft()[1]
        if self._waiters:  # a waiter counts itself before its first check, so no record goes unnoticed
            with self._changed:
                self._changed.notify_all()

    def entries(self, *, path: str | None = None, status: int | None = None, model: str | None = None
                ) -> list[Entry]:
        """Entries newest first, optionally only those with this path (`/images/*`: a prefix), status, model."""
        return filter_entries(self._newest_first(), path=path, status=status, model=model)

    def wait_for(self, predicate: Callable[[list[Entry]], bool], timeout: float = 10.0) -> bool:
        """Block until `predicate(entries newest first)` holds (re-checked on every record) or `timeout` passes."""
        with self._changed:
            self._waiters += 1
            try:
                return self._changed.wait_for(lambda: predicate(self._newest_first()), timeout)
            finally:
                self._waiters -= 1

    def _newest_first(self) -> list[Entry]:
        with self._lock:
            items = list(self._items)
        items.reverse()
        return [_entry_of(item) for item in items]

    def newest(self, offset: int = 0, limit: int | None = None) -> list[Entry]:
        """A slice of `entries()` (newest first) without building the entries outside it."""
        with self._lock:
            items = list(itertools.islice(reversed(self._items), offset, None if limit is None else offset + limit))
        return [_entry_of(item) for item in items]

    def find(self, entry_id: int) -> Entry | None:
        """The entry with this id, if the journal still holds it (building only that one)."""
        with self._lock:
            items = list(self._items)
        for item in reversed(items):
            first = item[0]
            if (first.id if isinstance(first, Entry) else RAW_HEAD.unpack_from(first)[0]) == entry_id:
                return _entry_of(item)
        return None

    def newest_id(self) -> int:
        """The newest entry's id, 0 when empty: with `len()`, a cheap sign that the journal changed."""
        with self._lock:
            if not self._items:
                return 0
            first = self._items[-1][0]
        return first.id if isinstance(first, Entry) else int(RAW_HEAD.unpack_from(first)[0])

    def select(self, match: Callable[[Brief], bool], offset: int, limit: int, ahead: int
               ) -> tuple[list[Entry], int, bool]:
        """One page of the entries whose `Brief` matches, newest first: the page's entries (only those are built),
        the matches counted, and whether that count is exact. Counting stops `ahead` entries after the page is
        full, so a filtered page of a full journal reads briefs (no body or answer parsed) and stops early."""
        with self._lock:
            items = list(self._items)
        shown: list[Entry] = []
        matching, examined, end = 0, 0, offset + limit
        for item in reversed(items):
            if matching >= end:
                examined += 1
                if examined > ahead:
                    return shown, matching, False
            if match(brief_of(item)):
                if matching >= offset and len(shown) < limit:
                    shown.append(_entry_of(item))
                matching += 1
        return shown, matching, True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
        with self._changed:
            self._changed.notify_all()

    @property
    def nbytes(self) -> int:
        """The estimated bytes held (at most `max_bytes`, unless one entry alone is larger)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


# -- keeping bodies small --------------------------------------------------------------------------


def cap_json(value: Any, size: int) -> Any:
    """A parsed body as the journal keeps it: as is up to `BODY_CAP` bytes, else with long parts shortened."""
    return value if size <= BODY_CAP else _shrink(value, 0)


def cap_violations(violations: Sequence[Violation], size: int) -> tuple[Violation, ...]:
    """Violations as the journal keeps them: their paths and sentences cut to `_STRING_CAP` characters (a 1 MB
    field name is in both), the values they quote shortened when the body was over the cap."""
    kept = tuple(_cap_violation(violation, size) for violation in violations[:_ITEMS_CAP])
    if len(violations) > _ITEMS_CAP:
        more = len(violations) - _ITEMS_CAP
        kept += (Violation("$", "more", more, f"...and {more} more violations, not kept"),)
    return kept


def _cap_violation(violation: Violation, size: int) -> Violation:
    path, message = cap_text(violation.path, _STRING_CAP), cap_text(violation.message, _STRING_CAP)
    value = violation.value if size <= BODY_CAP else _shrink(violation.value, 0)
    expected = violation.expected if size <= BODY_CAP else _shrink(violation.expected, 0)
    if path is violation.path and message is violation.message and value is violation.value:
        return violation
    return dataclasses.replace(violation, path=path, message=message, value=value, expected=expected)


def kept_size(value: Any, depth: int = 0) -> int:
    """Roughly the bytes a kept Python value holds (a shortened body, a payload, violations), for the bound."""
    if isinstance(value, str | bytes):
        return 56 + len(value)
    if depth > 16:
        return 64
    if isinstance(value, dict):
        return 64 + sum(kept_size(key, depth + 1) + kept_size(item, depth + 1) for key, item in value.items())
    if isinstance(value, list | tuple):
        return 56 + sum(8 + kept_size(item, depth + 1) for item in value)
    if isinstance(value, Violation):
        return 96 + sum(kept_size(part, depth + 1) for part in (value.path, value.rule, value.value, value.message,
                                                                value.expected))
    return 32


def _shrink(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _STRING_CAP else f"{value[:_STRING_CAP]}...({len(value)} chars)"
    if depth > 8:
        return "..."
    if isinstance(value, list):
        head = [_shrink(item, depth + 1) for item in value[:_ITEMS_CAP]]
        return head + ([f"...({len(value)} items)"] if len(value) > _ITEMS_CAP else [])
    if isinstance(value, dict):
        items = list(value.items())
        kept = {cap_text(str(key), _STRING_CAP): _shrink(item, depth + 1) for key, item in items[:_ITEMS_CAP]}
        if len(items) > _ITEMS_CAP:
            kept["..."] = f"{len(items)} fields"
        return kept
    return value


def elide_images(payload: Any) -> tuple[Any, int]:
    """A success payload with each `b64_json` replaced by a note of its length, and the characters removed.

    The original payload is left alone (the client is being sent it); a shallow copy is made only when
    there is something to elide.
    """
    if not isinstance(payload, dict):
        return payload, 0
    removed = 0
    out = payload
    for name in ("data", "images"):  # `images`: the fal-style answers some models give beside `data`
        data = payload.get(name)
        if not isinstance(data, list) or not any(isinstance(item, dict) and "b64_json" in item for item in data):
            continue
        items: list[Any] = []
        for item in data:
            encoded = item.get("b64_json") if isinstance(item, dict) else None
            if isinstance(encoded, str):
                removed += len(encoded)
                item = {**item, "b64_json": f"<{len(encoded)} base64 characters elided>"}
            items.append(item)
        out = {**out, name: items}
    return out, removed


def parse_captured(body: bytes) -> Any:
    """A captured JSON response body, parsed when its entry is read; unparseable bodies are shown as text."""
    if len(body) > BODY_CAP:
        return _over_the_cap(len(body))
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")


def _over_the_cap(size: int) -> str:
    return f"<{size} bytes, over the journal's {BODY_CAP}-byte cap>"


# -- images ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class ImageRecord:
    """One generated image: where it can be fetched (url mode), what it is, and how often it was fetched."""

    id: str
    model: str
    width: int
    height: int
    format: str
    response_format: str
    created: float
    expires: float | None
    url: str | None
    request: int | None
    downloads: int = 0
    last_download: float | None = None

    @property
    def downloaded(self) -> bool:
        """The client holds the bytes: it fetched the URL, or got them inline as `b64_json`."""
        return self.downloads > 0 or self.response_format == "b64_json"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": self.url, "model": self.model, "size": f"{self.width}x{self.height}",
            "format": self.format, "response_format": self.response_format, "created": self.created,
            "expires": self.expires, "request": self.request, "downloaded": self.downloaded,
            "downloads": self.downloads, "last_download": self.last_download,
        }


def image_name(url: str) -> str:
    """The file name in an image URL (`img-....png`), the key downloads are matched by."""
    return url.rpartition("/")[2].partition("?")[0]


class ImageRegistry:
    """The images generated (those of the last `capacity` successes) and their downloads; thread-safe.

    Registering keeps one small tuple per success (the URLs by reference; never the prompt or base64
    bytes), and `images()` builds the records.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if capacity < 0 or max_bytes < 0:
            raise ValueError("the image registry's capacity and byte bound cannot be negative")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._batches: deque[tuple[_Batch, int]] = deque()
        self._bytes = 0
        self._downloads: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._download_bytes = 0
        self._lock = threading.Lock()

    def register(self, request: ImageRequest, data: Sequence[Any], *, created: float, ttl: float,
                 entry_id: int | None = None) -> None:
        """Remember the images of one success payload's `data` (on every answer's path: straight-line code for
        the common answer of one image, one bound test per eviction)."""
        if not self.capacity:
            return
        size = _BATCH_OVERHEAD
        urls: tuple[str, ...] | int = len(data)
        if request.response_format == "url":
            if len(data) == 1:
                url = data[0]["url"]
                urls = (url,)
                size += len(url) + _STRING_OVERHEAD
            else:
                urls = tuple(item["url"] for item in data)
                for url in urls:  # a loop: Python 3.11 makes a function object for each generator expression
                    size += len(url) + _STRING_OVERHEAD
        batch = (request.model, request.width, request.height, request.fmt, request.response_format, urls,
                 created, ttl, entry_id)
        with self._lock:
            batches = self._batches
            batches.append((batch, size))
            held = self._bytes = self._bytes + size
            if len(batches) > self.capacity or held > self.max_bytes:
                while len(batches) > self.capacity or (self._bytes > self.max_bytes and len(batches) > 1):
                    self._bytes -= batches.popleft()[1]

    def mark_downloaded(self, name: str, now: float) -> None:
        """Count a fetch of the image with this file name."""
        with self._lock:
            previous = self._downloads.pop(name, None)
            if previous is None:
                self._download_bytes += len(name) + _DOWNLOAD_OVERHEAD
            self._downloads[name] = ((previous[0] if previous else 0) + 1, now)
            while len(self._downloads) > 1 and (len(self._downloads) > max(self.capacity, 1) * 4
                                                or self._download_bytes > self.max_bytes // 4):
                self._download_bytes -= len(self._downloads.popitem(last=False)[0]) + _DOWNLOAD_OVERHEAD

    def images(self, *, downloaded: bool | None = None, request: int | None = None) -> list[ImageRecord]:
        """Images newest first, optionally only those (not) downloaded, or those of one journal entry."""
        with self._lock:
            batches = [batch for batch, _ in self._batches if request is None or batch[8] == request]
            downloads = dict(self._downloads)
        records: list[ImageRecord] = []
        for batch in reversed(batches):
            urls = batch[5]
            for index in reversed(range(urls if isinstance(urls, int) else len(urls))):
                record = _image_record(batch, None if isinstance(urls, int) else urls[index], index)
                record.downloads, last = downloads.get(record.id, (0, None))
                record.last_download = last
                if downloaded is None or record.downloaded == downloaded:
                    records.append(record)
        return records

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._downloads.clear()
            self._bytes = self._download_bytes = 0

    @property
    def nbytes(self) -> int:
        """The estimated bytes held: at most `max_bytes` for the images (unless one batch alone is larger), and a
        quarter of it more for the download counts."""
        return self._bytes + self._download_bytes

    def __len__(self) -> int:
        """How many images are listed."""
        with self._lock:
            return sum(batch[5] if isinstance(batch[5], int) else len(batch[5]) for batch, _ in self._batches)


_BATCH_OVERHEAD = 200  # a batch's tuple, its numbers and the deque slot
_STRING_OVERHEAD = 56  # a str object's header
_DOWNLOAD_OVERHEAD = 200  # an ordered-dict node, its key's header, the count's tuple

# model, width, height, format, response_format, the URLs (url mode) or the count, created, ttl, entry id:
# atomic values only, so the garbage collector stops tracking it
_Batch = tuple[str, int, int, str, str, "tuple[str, ...] | int", float, float, "int | None"]


def _image_record(batch: _Batch, url: str | None, index: int) -> ImageRecord:
    model, width, height, fmt, response_format, _, created, ttl, entry_id = batch
    return ImageRecord(
        id=image_name(url) if url else f"b64-{entry_id or 0}-{index}", model=model, width=width, height=height,
        format=fmt, response_format=response_format, created=created, expires=created + ttl if url else None,
        url=url, request=entry_id,
    )
